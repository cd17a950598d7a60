/**
 * Fluent Bit agent sidecar: per stream one tail input (offset DB on the state volume), the
 * credential guard, the parser, the record shaping of records.ts (one schema for both agents),
 * downward-API enrichment and the stream's catalog output. Critical streams buffer on the
 * filesystem and retry without limit; the memory and disk limits come from budget.ts.
 *
 * The config is built as data (sections of key/value pairs) and serialized last; every key is one
 * the plugin has in Fluent Bit 4.2 (checked by the tests against test/fixtures/agent-keys) and
 * every value passes assertConfigSafe, so nothing from a pod can start a new line, section or
 * directive.
 */
import { AGENT_CONFIG, AGENT_PARSERS } from '../../webhook/core/annotations.js';
import type { Output } from '../../webhook/core/policy.js';
import { FB_CHUNK_MIB, type Budget, planBudget } from '../budget.js';
import { HOST_NETWORK_WARNING, VALUE, assertConfigSafe, credentialsFor, freePort, isToken, mergeCredentials, scanConfigValue, tlsFor, unsafeReason } from '../common.js';
import { guaranteeWarning } from '../guarantees.js';
import {
  CREDENTIAL_GUARD, ENRICHMENT_KEYS, FILE_KEY, INTERNAL_PREFIX, LOG_NAME_KEY, MESSAGE_KEY, MULTILINE_FLUSH_MS, RAW_KEY, RESERVED_KEYS,
  appKey, continuationRegex, firstLineRegex, isMultilineParser, parsesFields,
} from '../records.js';
import { AGENT_PORTS, type AgentRender, type AgentRenderInput, type AgentStream, FACT_ENV, PATHS } from '../types.js';
import { PARSER_DEFINITIONS } from './parsers.js';

export type Entry = readonly [key: string, value: string];
export interface Section {
  readonly name: 'SERVICE' | 'INPUT' | 'FILTER' | 'OUTPUT' | 'PARSER' | 'MULTILINE_PARSER';
  readonly entries: readonly Entry[];
}

export const CONFIG_FILE = 'fluent-bit.conf';
export const PARSERS_FILE = 'parsers.conf';
const BINARY = '/fluent-bit/bin/fluent-bit';
/** Retries for non-critical streams; critical ones retry forever. */
const RETRY_LIMIT = '10';
/**
 * The HTTP server (health, metrics). It listens on the pod IP: the kubelet probes the pod IP and the
 * image has no shell for an exec probe (docs/pipelines.md "Agent health"). Read-only endpoints:
 * hot reload and chunk tracing stay off.
 */
export const HTTP_PORT = AGENT_PORTS.fluentBitHttp;
/** HTTP_PORT, or the next port no container of the pod declares. */
export const httpPort = (input: Pick<AgentRenderInput, 'network'>) => freePort(HTTP_PORT, input.network?.usedPorts ?? []);
export const METRICS_PATH = '/api/v2/metrics/prometheus';
export const HEALTH_PATH = '/api/v1/health';

const env = (name: string) => `\${${name}}`;
const onOff = (b: boolean) => (b ? 'On' : 'Off');
export const tagOf = (s: Pick<AgentStream, 'name'>) => `sidelog.${s.name}`;
const mb = (n: number) => `${n}M`;

function tlsEntries(s: AgentStream, tls: boolean, verify: boolean): Entry[] {
  if (!tls) return [];
  const files = tlsFor(s.outputName, s.output);
  return [
    ['tls', 'On'], ['tls.verify', onOff(verify)],
    ...(files.ca ? ([['tls.ca_file', files.ca]] as Entry[]) : []),
    ...(files.cert ? ([['tls.crt_file', files.cert], ['tls.key_file', files.key!]] as Entry[]) : []),
  ];
}

/** The plugin-specific part of one stream's [OUTPUT]. */
function outputEntries(s: AgentStream, budget: Budget): Entry[] {
  const o: Output = s.output;
  const cred = credentialsFor(s.outputName, o).vars;
  const basicAuth = (): Entry[] =>
    cred.username ? [['HTTP_User', env(cred.username)], ['HTTP_Passwd', env(cred.password!)]] : [];
  switch (o.type) {
    case 'forward':
      return [
        ['Name', 'forward'], ['Host', o.host], ['Port', String(o.port)], ['Tag', o.tag],
        ['Require_ack_response', onOff(o.requireAck)],
        ...(cred['shared-key'] ? ([['Shared_Key', env(cred['shared-key'])], ['Self_Hostname', env(FACT_ENV.pod)]] as Entry[]) : []),
        ...tlsEntries(s, o.tls, o.tlsVerify),
      ];
    case 'kafka': {
      const sasl = cred.username !== undefined;
      const protocol = sasl ? (o.tls ? 'SASL_SSL' : 'SASL_PLAINTEXT') : o.tls ? 'SSL' : 'PLAINTEXT';
      return [
        ['Name', 'kafka'], ['Brokers', o.brokers.join(',')], ['Topics', o.topic], ['Format', 'json'],
        ['Timestamp_Key', '@timestamp'],
        ['rdkafka.security.protocol', protocol],
        ...(sasl ? ([['rdkafka.sasl.mechanism', o.saslMechanism], ['rdkafka.sasl.username', env(cred.username!)], ['rdkafka.sasl.password', env(cred.password!)]] as Entry[]) : []),
        ...(o.tls && !o.tlsVerify ? ([['rdkafka.enable.ssl.certificate.verification', 'false']] as Entry[]) : []),
        ...kafkaTls(s),
        // librdkafka keeps undelivered messages 5 minutes by default, then drops them.
        ['rdkafka.message.timeout.ms', s.critical ? '0' : '300000'],
        // All in-sync replicas acknowledge, and retries cannot duplicate or reorder.
        ['rdkafka.request.required.acks', s.critical ? '-1' : '1'],
        ...(s.critical ? ([['rdkafka.enable.idempotence', 'true']] as Entry[]) : []),
        // librdkafka queues up to 1 GiB by default: half the stream's memory share instead (budget.ts).
        ['rdkafka.queue.buffering.max.kbytes', String(kafkaQueueKib(budget))],
      ];
    }
    case 'elasticsearch':
      return [
        ['Name', o.distribution === 'opensearch' ? 'opensearch' : 'es'], ['Host', o.host], ['Port', String(o.port)],
        ['Index', o.index], ['Suppress_Type_Name', 'On'], ['Replace_Dots', 'On'], ['Trace_Error', 'On'],
        // A document ID hashed from the record, written as an upsert: a retried bulk request
        // rewrites the same documents instead of duplicating them, and gets no 409 conflicts (with
        // the default `create`, Fluent Bit retries a bulk answer mixing 201 and 409 forever:
        // fluent/fluent-bit#6341).
        ['Generate_ID', 'On'], ['Write_Operation', 'upsert'],
        ...basicAuth(), ...tlsEntries(s, o.tls, o.tlsVerify),
      ];
    case 'loki':
      return [
        ['Name', 'loki'], ['Host', o.host], ['Port', String(o.port)],
        ['Labels', Object.keys(o.labels).length ? Object.entries(o.labels).map(([k, v]) => `${k}=${v}`).join(', ') : 'job=sidelog'],
        ['Line_Format', 'json'],
        ...(o.tenant ? ([['Tenant_ID', o.tenant]] as Entry[]) : []),
        ...basicAuth(), ...tlsEntries(s, o.tls, o.tlsVerify),
      ];
    case 'http':
      return [
        ['Name', 'http'], ['Host', o.host], ['Port', String(o.port)], ['URI', o.uri], ['Format', 'json'],
        ['Json_Date_Key', 'date'], ['Json_Date_Format', 'iso8601'],
        ...basicAuth(), ...tlsEntries(s, o.tls, o.tlsVerify),
      ];
    case 's3':
      return [
        ['Name', 's3'], ['Bucket', o.bucket], ['Region', o.region],
        ['S3_Key_Format', `/${o.prefix.replace(/^\/+|\/+$/g, '')}/%Y/%m/%d/%H-%M-%S-$UUID.gz`],
        // A file must fit its staging share twice (one being filled, one being uploaded).
        ['Total_File_Size', mb(Math.max(1, Math.min(sizeMib(o.totalFileSize), Math.floor(budget.diskUnitMib / 2))))],
        ['Upload_Timeout', o.uploadTimeout], ['Compression', 'gzip'],
        ['Use_Put_Object', 'On'],
        // The default store_dir is under /tmp, which a read-only root filesystem does not have; its
        // size is bounded inside the buffer volume's budget (budget.ts).
        ['Store_Dir', `${PATHS.buffer}/s3/${s.name}`], ['Store_Dir_Limit_Size', mb(budget.diskUnitMib)],
        ...(o.endpoint ? ([['Endpoint', o.endpoint]] as Entry[]) : []),
        ...(tlsFor(s.outputName, o).ca ? ([['tls.ca_file', tlsFor(s.outputName, o).ca!]] as Entry[]) : []),
      ];
    case 'stackdriver': {
      const file = credentialsFor(s.outputName, o).file;
      return [
        ['Name', 'stackdriver'], ['Resource', 'global'], ['Log_Name_Key', LOG_NAME_KEY],
        ...(file ? ([['Google_Service_Credentials', file]] as Entry[]) : []),
      ];
    }
    case 'cloudwatch':
      return [
        ['Name', 'cloudwatch_logs'], ['Region', o.region], ['Log_Group_Name', o.logGroup],
        ['Log_Stream_Prefix', o.logStreamPrefix], ['Auto_Create_Group', onOff(o.autoCreateGroup)],
      ];
    case 'syslog':
      return [
        // Fluent Bit speaks syslog over TLS as `Mode tcp` plus `tls On`. `log` is in every record
        // (records.ts), also after a parser, so the message is never empty.
        ['Name', 'syslog'], ['Host', o.host], ['Port', String(o.port)], ['Mode', o.protocol === 'udp' ? 'udp' : 'tcp'],
        ['Syslog_Format', o.format], ['Syslog_Message_Key', MESSAGE_KEY], ['Syslog_Hostname_Key', 'node'],
        ['Syslog_Appname_Preset', s.name],
        ...tlsEntries(s, o.protocol === 'tls', o.tlsVerify),
      ];
    case 'stdout':
      return [['Name', 'stdout'], ['Format', 'json_lines'], ['Json_Date_Key', 'date'], ['Json_Date_Format', 'iso8601']];
  }
}

function kafkaTls(s: AgentStream): Entry[] {
  const files = tlsFor(s.outputName, s.output);
  return [
    ...(files.ca ? ([['rdkafka.ssl.ca.location', files.ca]] as Entry[]) : []),
    ...(files.cert ? ([['rdkafka.ssl.certificate.location', files.cert], ['rdkafka.ssl.key.location', files.key!]] as Entry[]) : []),
  ];
}

/** Half a Kafka stream's memory share goes to librdkafka's queue (budget.ts), in KiB. */
export const kafkaQueueKib = (budget: Budget) => Math.max(1024, Math.floor(budget.memoryShareMib / 2) * 1024);

function sizeMib(size: string): number {
  const m = /^(\d+)([KMG])$/.exec(size);
  if (!m) return 50;
  const n = Number(m[1]);
  return m[2] === 'K' ? Math.max(1, Math.ceil(n / 1024)) : m[2] === 'G' ? n * 1024 : n;
}

/** Name of the [PARSER] a stream's parser filter uses, or undefined for none/multiline. */
export function parserName(s: AgentStream): string | undefined {
  if (s.parser === 'regex') return `sidelog-regex-${s.name}`;
  if (!parsesFields(s.parser)) return undefined;
  return `sidelog-${s.parser}`;
}

/** Name of the [MULTILINE_PARSER] of a multiline stream (records.ts first-line rule), else undefined. */
export function multilineParserName(s: Pick<AgentStream, 'parser'>): string | undefined {
  return isMultilineParser(s.parser) ? `sidelog-${s.parser}` : undefined;
}

/** Memory held by a stream's input: Mem_Buf_Limit of memory-buffered streams (Kafka: half the share). */
export function memBufLimitMib(s: AgentStream, budget: Budget): number {
  return s.output.type === 'kafka' ? Math.max(1, Math.floor(budget.memoryShareMib / 2)) : budget.memoryShareMib;
}

/** storage.max_chunks_up and storage.backlog.mem_limit from the critical streams' pooled memory shares. */
export function filesystemMemory(criticalStreams: readonly AgentStream[], budget: Budget): { chunksUp: number; backlogMib: number } {
  const pool = criticalStreams.reduce((sum, s) => sum + memBufLimitMib(s, budget), 0);
  const backlogMib = Math.max(1, Math.floor(pool / 4));
  return { chunksUp: Math.max(1, Math.floor((pool - backlogMib) / FB_CHUNK_MIB)), backlogMib };
}

/** The record shaping of records.ts for one stream: guard, parser, app keys aside, enrichment. */
function recordFilters(s: AgentStream, tag: string): Section[] {
  const parser = parserName(s);
  const messageKey = parser ? RAW_KEY : MESSAGE_KEY;
  const sections: Section[] = [
    // Credentials never become log lines (records.ts CREDENTIAL_GUARD), checked on the raw line.
    { name: 'FILTER', entries: [['Name', 'grep'], ['Match', tag], ['Exclude', `${messageKey} ${CREDENTIAL_GUARD}`]] },
  ];
  if (parser) {
    sections.push(
      { name: 'FILTER', entries: [['Name', 'parser'], ['Match', tag], ['Key_Name', RAW_KEY], ['Parser', parser], ['Reserve_Data', 'On'], ['Preserve_Key', 'On']] },
      {
        name: 'FILTER',
        entries: [
          ['Name', 'modify'], ['Match', tag],
          // The collision rule: the app's own value moves to app_<key>; sidelog's takes the key.
          ...RESERVED_KEYS.map((k): Entry => ['Hard_rename', `${k} ${appKey(k)}`]),
          // The Cloud Logging log name is sidelog's (record_modifier appends it below, after any key the
          // app wrote, and stackdriver would read the app's first): the app's own moves aside too.
          ...(s.output.type === 'stackdriver' ? ([['Hard_rename', `${LOG_NAME_KEY} ${appKey(LOG_NAME_KEY)}`]] as Entry[]) : []),
          ['Rename', `${RAW_KEY} ${MESSAGE_KEY}`], ['Rename', `${FILE_KEY} file`],
        ],
      },
    );
  }
  const enrichment: Record<(typeof ENRICHMENT_KEYS)[number], string | undefined> = {
    pod: env(FACT_ENV.pod), namespace: env(FACT_ENV.namespace), node: env(FACT_ENV.node), container: s.container, stream: s.name,
    file: undefined, // set by the tail input (Path_Key)
  };
  sections.push({
    name: 'FILTER',
    entries: [
      ['Name', 'record_modifier'], ['Match', tag],
      ...Object.entries(enrichment).filter(([, v]) => v !== undefined).map(([k, v]): Entry => ['Record', `${k} ${v}`]),
      ...(s.output.type === 'stackdriver' ? ([['Record', `${LOG_NAME_KEY} ${s.output.logName}`]] as Entry[]) : []),
    ],
  });
  return sections;
}

/** The main config as data. */
export function fluentBitSections(input: AgentRenderInput, budget: Budget = budgetOf(input)): Section[] {
  const critical = input.streams.filter((s) => s.critical);
  const service: Entry[] = [
    ['Flush', '1'], ['Grace', String(input.flushSeconds)], ['Daemon', 'Off'], ['Log_Level', 'info'],
    ['Parsers_File', `${PATHS.config}/${PARSERS_FILE}`],
    ...(input.network?.hostNetwork
      ? ([['HTTP_Server', 'Off']] as Entry[])
      : ([
        ['HTTP_Server', 'On'], ['HTTP_Listen', input.defaults.agentListen], ['HTTP_Port', String(httpPort(input))],
        // Unhealthy (HTTP 500 on /api/v1/health) after 20 output errors or 20 exhausted retries in
        // 120 s: an agent that keeps failing is restarted; a destination outage alone (retries) is not.
        ['Health_Check', 'On'], ['HC_Errors_Count', '20'], ['HC_Retry_Failure_Count', '20'], ['HC_Period', '120'],
      ] as Entry[])),
  ];
  if (critical.length) {
    const fs = filesystemMemory(critical, budget);
    service.push(
      ['storage.path', `${PATHS.buffer}/fluent-bit`], ['storage.sync', 'full'], ['storage.checksum', 'On'],
      ['storage.max_chunks_up', String(fs.chunksUp)], ['storage.backlog.mem_limit', mb(fs.backlogMib)],
      ['storage.backlog.flush_on_shutdown', 'On'], ['storage.metrics', 'On'],
    );
  }
  const sections: Section[] = [{ name: 'SERVICE', entries: service }];
  for (const s of input.streams) {
    const tag = tagOf(s);
    const ml = multilineParserName(s);
    const fields = parserName(s) !== undefined;
    if (s.parser === 'regex' && s.regex !== undefined && new RegExp(`\\(\\?(?:<|')${INTERNAL_PREFIX}`).test(s.regex)) {
      throw new Error(`refusing to render stream "${s.name}": regex groups may not start with ${INTERNAL_PREFIX} (sidelog's internal keys)`);
    }
    sections.push({
      name: 'INPUT',
      entries: [
        ['Name', 'tail'], ['Tag', tag], ['Path', s.sidecarPath],
        // Streams with a field parser keep the raw line and the path aside until the collision rule ran.
        ...(fields ? ([['Key', RAW_KEY], ['Path_Key', FILE_KEY]] as Entry[]) : ([['Path_Key', 'file']] as Entry[])),
        ['DB', `${PATHS.state}/${s.name}.db`], ['DB.locking', 'true'],
        ['Read_From_Head', 'true'], ['Refresh_Interval', '5'], ['Rotate_Wait', '30'],
        ['Buffer_Chunk_Size', '64k'], ['Buffer_Max_Size', '1M'], ['Skip_Long_Lines', 'On'],
        ...(ml ? ([['multiline.parser', ml]] as Entry[]) : []),
        ...(s.critical
          ? ([['storage.type', 'filesystem'], ['storage.pause_on_chunks_overlimit', 'On']] as Entry[])
          : ([['storage.type', 'memory'], ['Mem_Buf_Limit', mb(memBufLimitMib(s, budget))]] as Entry[])),
      ],
    });
    sections.push(...recordFilters(s, tag));
    const [name, ...plugin] = outputEntries(s, budget);
    sections.push({
      name: 'OUTPUT',
      entries: [
        name!, ['Match', tag], ...plugin,
        ['Retry_Limit', s.critical ? 'no_limits' : RETRY_LIMIT],
        // Every critical output's chunks are bounded, S3's too: its Store_Dir (Store_Dir_Limit_Size)
        // is a second unit, and while that is full the chunks wait here (newer out_s3 logs a hint
        // to use store_dir_limit_size instead; both bounds are needed to stay inside the volume).
        ...(s.critical ? ([['storage.total_limit_size', mb(budget.diskUnitMib)]] as Entry[]) : []),
      ],
    });
  }
  return sections;
}

/** The parsers file as data: only the parsers the streams use. */
export function fluentBitParserSections(streams: readonly AgentStream[]): Section[] {
  const sections: Section[] = [];
  const seen = new Set<string>();
  for (const s of streams) {
    const name = parserName(s) ?? multilineParserName(s);
    if (!name || seen.has(name)) continue;
    seen.add(name);
    if (isMultilineParser(s.parser)) {
      sections.push({
        name: 'MULTILINE_PARSER',
        entries: [
          ['Name', name], ['Type', 'regex'], ['Flush_Timeout', String(MULTILINE_FLUSH_MS)],
          // A line that continues no stack trace starts the event; the continuations join it.
          ['Rule', `"start_state" "${firstLineRegex(s.parser)}" "cont"`],
          ['Rule', `"cont" "${continuationRegex(s.parser)}" "cont"`],
        ],
      });
      continue;
    }
    const body = s.parser === 'regex' ? ([['Format', 'regex'], ['Regex', s.regex!]] as Entry[]) : PARSER_DEFINITIONS[s.parser]!;
    sections.push({ name: 'PARSER', entries: [['Name', name], ...body] });
  }
  return sections;
}

export const budgetOf = (input: AgentRenderInput): Budget =>
  planBudget('fluent-bit', input.streams.map((s) => ({ name: s.name, critical: s.critical, outputType: s.output.type })), input.memoryLimit, input.defaults.bufferSize);

const isLetter = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
/** [A-Za-z0-9_.] */
const isKeyChar = (c: number) => isLetter(c) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2e;

/**
 * Serialize sections in Fluent Bit's classic format, refusing any unsafe key or value. Each value
 * is read once ({@link scanConfigValue}) for every check.
 */
export function serialize(sections: readonly Section[], header: string): string {
  let out = `# ${header}\n`;
  for (const section of sections) {
    out += `\n[${section.name}]\n`;
    let width = 0;
    for (const [k] of section.entries) width = Math.max(width, k.length);
    for (const [key, value] of section.entries) {
      if (!isToken(key, isLetter, isKeyChar)) throw new Error(`refusing to render key ${JSON.stringify(key)}`);
      const flags = scanConfigValue(value);
      const unsafe = unsafeReason(flags);
      if (unsafe !== undefined) throw new Error(`refusing to render ${section.name} ${key}: ${unsafe}`);
      if (key === 'Path' && flags & VALUE.comma) throw new Error(`refusing to render ${section.name} Path: a comma makes it a list of paths`);
      // Fluent Bit expands `${NAME}` in every value: only sidelog's own env references may appear.
      if (flags & VALUE.strayEnvRef) throw new Error(`refusing to render ${section.name} ${key}: \${ outside an env reference`);
      out += `    ${key.padEnd(width)} ${value}\n`;
    }
  }
  return out;
}

/** What admission tells the user: weaker critical guarantees, small budgets, no blocking when the buffer is full. */
export function fluentBitWarnings(input: AgentRenderInput, budget: Budget): string[] {
  const warnings = [...budget.warnings];
  for (const s of input.streams) {
    const w = guaranteeWarning('fluent-bit', s);
    if (w) warnings.push(w);
  }
  if (input.network?.hostNetwork) warnings.push(HOST_NETWORK_WARNING);
  const critical = input.streams.filter((s) => s.critical && s.output.type !== 's3');
  if (critical.length && input.defaults.onBufferFull === 'block') {
    warnings.push(`Fluent Bit cannot block when a critical stream's buffer is full: once ${critical.map((s) => `"${s.name}"`).join(', ')} hold ${budget.diskUnitMib}Mi each, the oldest chunks are dropped (sidelog.io/agent: fluentd blocks instead)`);
  }
  return warnings;
}

export function renderFluentBit(input: AgentRenderInput): AgentRender {
  const budget = budgetOf(input);
  const creds = mergeCredentials(input.streams);
  const parserSections = fluentBitParserSections(input.streams);
  // On the node's network the agent opens no port at all.
  const port = input.network?.hostNetwork ? undefined : httpPort(input);
  return {
    image: input.defaults.images['fluent-bit'],
    command: [BINARY],
    args: ['--config', `${PATHS.config}/${CONFIG_FILE}`],
    files: [
      { file: CONFIG_FILE, annotation: AGENT_CONFIG, text: serialize(fluentBitSections(input, budget), 'Generated by sidelog. Do not edit: change the pod annotations or the policy.') },
      { file: PARSERS_FILE, annotation: AGENT_PARSERS, text: serialize(parserSections, 'Parsers used by the sidelog.io/streams of this pod.') },
    ],
    env: creds.env,
    volumes: creds.volumes,
    mounts: creds.mounts,
    needsBuffer: input.streams.some((s) => s.critical || s.output.type === 's3'),
    problems: creds.problems,
    warnings: fluentBitWarnings(input, budget),
    ...(port === undefined
      ? { ports: [] }
      : {
        livenessProbe: {
          httpGet: { path: HEALTH_PATH, port },
          initialDelaySeconds: 10, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3,
        },
        ports: [{ name: 'sidelog-metrics', containerPort: port, protocol: 'TCP' as const }],
        metricsPath: METRICS_PATH,
      }),
  };
}
