/**
 * Fluent Bit agent sidecar: one tail input per stream (offset DB on the state volume), a parser
 * filter, downward-API enrichment, and the stream's catalog output. Critical streams buffer on
 * the filesystem, retry without limit and pause the input instead of dropping (AGENTS.md).
 *
 * The config is built as data (sections of key/value pairs) and serialized last; every key is one
 * the plugin has in Fluent Bit 4.2 (checked by the tests against test/fixtures/agent-keys) and
 * every value passes assertConfigSafe, so nothing from a pod can start a new line, section or
 * directive.
 */
import { AGENT_CONFIG, AGENT_PARSERS } from '../../webhook/core/annotations.js';
import type { Output } from '../../webhook/core/policy.js';
import { parseQuantity } from '../../webhook/core/quantity.js';
import { VALUE, credentialsFor, isToken, mergeCredentials, scanConfigValue, unsafeReason } from '../common.js';
import { type AgentRender, type AgentRenderInput, type AgentStream, FACT_ENV, PATHS } from '../types.js';
import { PARSER_DEFINITIONS } from './parsers.js';

export type Entry = readonly [key: string, value: string];
export interface Section {
  readonly name: 'SERVICE' | 'INPUT' | 'FILTER' | 'OUTPUT' | 'PARSER';
  readonly entries: readonly Entry[];
}

export const CONFIG_FILE = 'fluent-bit.conf';
export const PARSERS_FILE = 'parsers.conf';
const BINARY = '/fluent-bit/bin/fluent-bit';
/** Memory a non-critical input may hold before Fluent Bit pauses it (backpressure, not loss). */
const MEM_BUF_LIMIT = '16MB';
/** Retries for non-critical streams; critical ones retry forever. */
const RETRY_LIMIT = '10';

const env = (name: string) => `\${${name}}`;
const onOff = (b: boolean) => (b ? 'On' : 'Off');
export const tagOf = (s: Pick<AgentStream, 'name'>) => `sidelog.${s.name}`;

/** Disk each critical output may fill: the buffer volume split evenly, with a fifth kept spare. */
function perOutputLimit(bufferSize: string, criticalCount: number): string {
  const bytes = parseQuantity(bufferSize) ?? 2 ** 30;
  const mb = Math.max(16, Math.floor((bytes * 0.8) / Math.max(1, criticalCount) / 2 ** 20));
  return `${mb}M`;
}

function tlsEntries(tls: boolean, verify: boolean): Entry[] {
  return tls ? [['tls', 'On'], ['tls.verify', onOff(verify)]] : [];
}

/** The plugin-specific part of one stream's [OUTPUT]. */
function outputEntries(s: AgentStream): Entry[] {
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
        ...tlsEntries(o.tls, o.tlsVerify),
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
        // librdkafka keeps undelivered messages 5 minutes by default, then drops them.
        ['rdkafka.message.timeout.ms', s.critical ? '0' : '300000'],
        ['rdkafka.request.required.acks', s.critical ? '-1' : '1'],
        // librdkafka queues up to 1 GiB by default: far more than the sidecar's memory limit.
        ['rdkafka.queue.buffering.max.kbytes', '65536'],
      ];
    }
    case 'elasticsearch':
      return [
        ['Name', o.distribution === 'opensearch' ? 'opensearch' : 'es'], ['Host', o.host], ['Port', String(o.port)],
        ['Index', o.index], ['Suppress_Type_Name', 'On'], ['Replace_Dots', 'On'], ['Trace_Error', 'On'],
        ...basicAuth(), ...tlsEntries(o.tls, o.tlsVerify),
      ];
    case 'loki':
      return [
        ['Name', 'loki'], ['Host', o.host], ['Port', String(o.port)],
        ['Labels', Object.keys(o.labels).length ? Object.entries(o.labels).map(([k, v]) => `${k}=${v}`).join(', ') : 'job=sidelog'],
        ['Line_Format', 'json'],
        ...(o.tenant ? ([['Tenant_ID', o.tenant]] as Entry[]) : []),
        ...basicAuth(), ...tlsEntries(o.tls, o.tlsVerify),
      ];
    case 'http':
      return [
        ['Name', 'http'], ['Host', o.host], ['Port', String(o.port)], ['URI', o.uri], ['Format', 'json'],
        ['Json_Date_Key', 'date'], ['Json_Date_Format', 'iso8601'],
        ...basicAuth(), ...tlsEntries(o.tls, o.tlsVerify),
      ];
    case 's3':
      return [
        ['Name', 's3'], ['Bucket', o.bucket], ['Region', o.region],
        ['S3_Key_Format', `/${o.prefix.replace(/^\/+|\/+$/g, '')}/%Y/%m/%d/%H-%M-%S-$UUID.gz`],
        ['Total_File_Size', o.totalFileSize], ['Upload_Timeout', o.uploadTimeout], ['Compression', 'gzip'],
        ['Use_Put_Object', 'On'],
        // The default store_dir is under /tmp, which a read-only root filesystem does not have.
        ['Store_Dir', `${PATHS.buffer}/s3/${s.name}`],
        ...(o.endpoint ? ([['Endpoint', o.endpoint]] as Entry[]) : []),
      ];
    case 'stackdriver': {
      const file = credentialsFor(s.outputName, o).file;
      return [
        ['Name', 'stackdriver'], ['Resource', 'global'], ['Log_Name_Key', 'sidelog_log_name'],
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
        // Fluent Bit speaks syslog over TLS as `Mode tcp` plus `tls On`.
        ['Name', 'syslog'], ['Host', o.host], ['Port', String(o.port)], ['Mode', o.protocol === 'udp' ? 'udp' : 'tcp'],
        ['Syslog_Format', o.format], ['Syslog_Message_Key', 'log'], ['Syslog_Hostname_Key', 'node'],
        ['Syslog_Appname_Preset', s.name],
        ...tlsEntries(o.protocol === 'tls', o.tlsVerify),
      ];
    case 'stdout':
      return [['Name', 'stdout'], ['Format', 'json_lines'], ['Json_Date_Key', 'date'], ['Json_Date_Format', 'iso8601']];
  }
}

const MULTILINE: Partial<Record<AgentStream['parser'], string>> = {
  'multiline-java': 'java',
  'multiline-go': 'go',
  'multiline-python': 'python',
};

/** Name of the [PARSER] a stream's parser filter uses, or undefined for none/multiline. */
export function parserName(s: AgentStream): string | undefined {
  if (s.parser === 'regex') return `sidelog-regex-${s.name}`;
  if (s.parser === 'none' || MULTILINE[s.parser]) return undefined;
  return `sidelog-${s.parser}`;
}

/** The main config as data. */
export function fluentBitSections(input: AgentRenderInput): Section[] {
  const critical = input.streams.filter((s) => s.critical);
  const service: Entry[] = [
    ['Flush', '1'], ['Grace', String(input.flushSeconds)], ['Daemon', 'Off'], ['Log_Level', 'info'],
    ['Parsers_File', `${PATHS.config}/${PARSERS_FILE}`], ['HTTP_Server', 'Off'],
  ];
  if (critical.length) {
    service.push(
      ['storage.path', `${PATHS.buffer}/fluent-bit`], ['storage.sync', 'full'], ['storage.checksum', 'On'],
      ['storage.backlog.mem_limit', '8M'], ['storage.backlog.flush_on_shutdown', 'On'],
    );
  }
  const sections: Section[] = [{ name: 'SERVICE', entries: service }];
  const limit = perOutputLimit(input.defaults.bufferSize, critical.length);
  for (const s of input.streams) {
    const tag = tagOf(s);
    const ml = MULTILINE[s.parser];
    sections.push({
      name: 'INPUT',
      entries: [
        ['Name', 'tail'], ['Tag', tag], ['Path', s.sidecarPath], ['Path_Key', 'file'],
        ['DB', `${PATHS.state}/${s.name}.db`], ['DB.locking', 'true'],
        ['Read_From_Head', 'true'], ['Refresh_Interval', '5'], ['Rotate_Wait', '30'],
        ['Buffer_Chunk_Size', '64k'], ['Buffer_Max_Size', '1M'], ['Skip_Long_Lines', 'On'],
        ...(ml ? ([['multiline.parser', ml]] as Entry[]) : []),
        ...(s.critical
          ? ([['storage.type', 'filesystem'], ['storage.pause_on_chunks_overlimit', 'On']] as Entry[])
          : ([['storage.type', 'memory'], ['Mem_Buf_Limit', MEM_BUF_LIMIT]] as Entry[])),
      ],
    });
    const parser = parserName(s);
    if (parser) {
      sections.push({ name: 'FILTER', entries: [['Name', 'parser'], ['Match', tag], ['Key_Name', 'log'], ['Parser', parser], ['Reserve_Data', 'On']] });
    }
    sections.push({
      name: 'FILTER',
      entries: [
        ['Name', 'record_modifier'], ['Match', tag],
        ['Record', `pod ${env(FACT_ENV.pod)}`], ['Record', `namespace ${env(FACT_ENV.namespace)}`],
        ['Record', `node ${env(FACT_ENV.node)}`], ['Record', `container ${s.container}`], ['Record', `stream ${s.name}`],
        ...(s.output.type === 'stackdriver' ? ([['Record', `sidelog_log_name ${s.output.logName}`]] as Entry[]) : []),
      ],
    });
    const [name, ...plugin] = outputEntries(s);
    sections.push({
      name: 'OUTPUT',
      entries: [
        name!, ['Match', tag], ...plugin,
        ['Retry_Limit', s.critical ? 'no_limits' : RETRY_LIMIT],
        ...(s.critical ? ([['storage.total_limit_size', limit]] as Entry[]) : []),
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
    const name = parserName(s);
    if (!name || seen.has(name)) continue;
    seen.add(name);
    const body = s.parser === 'regex' ? ([['Format', 'regex'], ['Regex', s.regex!]] as Entry[]) : PARSER_DEFINITIONS[s.parser]!;
    sections.push({ name: 'PARSER', entries: [['Name', name], ...body] });
  }
  return sections;
}

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

export function renderFluentBit(input: AgentRenderInput): AgentRender {
  const creds = mergeCredentials(input.streams);
  const parserSections = fluentBitParserSections(input.streams);
  return {
    image: input.defaults.images['fluent-bit'],
    command: [BINARY],
    args: ['--config', `${PATHS.config}/${CONFIG_FILE}`],
    files: [
      { file: CONFIG_FILE, annotation: AGENT_CONFIG, text: serialize(fluentBitSections(input), 'Generated by sidelog. Do not edit: change the pod annotations or the policy.') },
      { file: PARSERS_FILE, annotation: AGENT_PARSERS, text: serialize(parserSections, 'Parsers used by the sidelog.io/streams of this pod.') },
    ],
    env: creds.env,
    volumes: creds.volumes,
    mounts: creds.mounts,
    needsBuffer: input.streams.some((s) => s.critical || s.output.type === 's3'),
    problems: creds.problems,
  };
}
