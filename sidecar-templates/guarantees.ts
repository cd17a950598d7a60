/**
 * What a critical stream promises, per output type and agent (docs/pipelines.md "What critical
 * means"). `at-least-once` means: through a destination outage and an agent restart (offsets on
 * the state volume, chunks on the buffer volume, retries without limit), every line is delivered
 * at least once, as long as the buffer share has room. A weaker promise is named, and admission
 * warns about it (see guaranteeWarning), so nobody reads "critical" as more than the agent does.
 */
import type { AgentName } from '../webhook/core/annotations.js';
import type { Output, OutputType } from '../webhook/core/policy.js';

export type Guarantee =
  | 'at-least-once'
  /** Success is reported when the record is queued in librdkafka's memory, not when Kafka acknowledges it. */
  | 'queued-in-memory'
  /** A staged file that fails 5 uploads is discarded (Fluent Bit out_s3 MAX_UPLOAD_ERRORS). */
  | 'discarded-after-5-upload-failures'
  /** Written to a TCP socket with no application acknowledgement: lines in flight when the receiver fails are lost. */
  | 'unacknowledged-stream'
  /** UDP: no delivery feedback at all. */
  | 'best-effort';

export interface Promise {
  readonly guarantee: Guarantee;
  /** Why, in one sentence (the plugin's behaviour), for the warning and the docs. */
  readonly why: string;
}

const ALO: Promise = { guarantee: 'at-least-once', why: 'retried without limit from the filesystem buffer until the destination accepts it' };

/** The promise of a critical stream to this output with this agent. */
export function criticalPromise(agent: AgentName, output: Output): Promise {
  const type: OutputType = output.type;
  if (output.type === 'forward' && !output.requireAck) {
    return { guarantee: 'unacknowledged-stream', why: 'the catalog turns off requireAck, so chunks the receiver read but did not store are lost' };
  }
  if (output.type === 'syslog') {
    return output.protocol === 'udp'
      ? { guarantee: 'best-effort', why: 'syslog over UDP gives no delivery feedback' }
      : { guarantee: 'unacknowledged-stream', why: 'syslog over TCP has no acknowledgement: lines in flight when the receiver fails are lost' };
  }
  if (agent === 'fluent-bit' && type === 'kafka') {
    return { guarantee: 'queued-in-memory', why: "Fluent Bit's out_kafka reports a chunk delivered once librdkafka has queued it (its delivery callback only logs); a restart or OOM kill loses that queue" };
  }
  if (agent === 'fluent-bit' && type === 's3') {
    return { guarantee: 'discarded-after-5-upload-failures', why: "Fluent Bit 4.2's out_s3 gives up on a staged file after 5 failed uploads (MAX_UPLOAD_ERRORS) whatever Retry_Limit says" };
  }
  return ALO;
}

/** The admission warning for a critical stream whose promise is weaker than at-least-once, else undefined. */
export function guaranteeWarning(agent: AgentName, stream: { readonly name: string; readonly outputName: string; readonly output: Output; readonly critical: boolean }): string | undefined {
  if (!stream.critical) return undefined;
  const p = criticalPromise(agent, stream.output);
  if (p.guarantee === 'at-least-once') return undefined;
  const hint = agent === 'fluent-bit' && (stream.output.type === 'kafka' || stream.output.type === 's3') ? '; sidelog.io/agent: fluentd delivers this output at least once' : '';
  return `stream "${stream.name}" is critical but ${agent} to output "${stream.outputName}" (${stream.output.type}) is only ${p.guarantee}: ${p.why}${hint}`;
}
