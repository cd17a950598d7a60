/**
 * One stream's configs for both agents and the records each emits for sample lines
 * (pipeline-sim.ts): what test/records.test.ts and test/credentials.test.ts compare.
 */
import { renderFluentBit, tagOf as fbTag } from '../../sidecar-templates/fluent-bit/index.js';
import { renderFluentd, tagOf as fdTag } from '../../sidecar-templates/fluentd/index.js';
import type { AgentRenderInput, AgentStream } from '../../sidecar-templates/types.js';
import type { ParserName } from '../../webhook/core/annotations.js';
import { OutputSchema, policyFromObject } from '../../webhook/core/policy.js';
import { type LogRecord, simulateFluentBit, simulateFluentd, sortedKeys } from './pipeline-sim.js';

/** The tailed file as the sidecar sees it. */
export const FILE = '/sidelog/logs/sidelog-logs-0/app.log';

export function streamInput(parser: ParserName, regex: string | undefined, output: Record<string, unknown> = { type: 'stdout' }): AgentRenderInput {
  const stream: AgentStream = {
    index: 0, name: 'app', container: 'web', appPath: '/var/log/app/app.log', sidecarPath: FILE,
    parser, ...(regex !== undefined ? { regex } : {}), critical: false, outputName: 'out', output: OutputSchema.parse(output),
  };
  return { streams: [stream], defaults: policyFromObject({}).defaults, flushSeconds: 20, namespace: 'team-a' };
}

/** The records both agents emit for these lines (keys sorted). */
export function recordsOf(input: AgentRenderInput, lines: readonly string[]): { fluentBit: LogRecord[]; fluentd: LogRecord[] } {
  const fb = renderFluentBit(input);
  const fd = renderFluentd(input);
  const s = input.streams[0]!;
  return {
    fluentBit: simulateFluentBit(fb.files[0]!.text, fb.files[1]!.text, fbTag(s), FILE, lines).map(sortedKeys),
    fluentd: simulateFluentd(fd.files[0]!.text, fdTag(s, input.namespace), FILE, lines).map(sortedKeys),
  };
}
