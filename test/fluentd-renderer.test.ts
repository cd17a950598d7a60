/**
 * The Fluentd renderer: the config is read back with a port of Fluentd's own v1 parser
 * (test/helpers/fluentd-conf.ts), every parameter and section is checked against the keys the
 * plugins really have (test/fixtures/agent-keys/fluentd.json), and hostile strings pushed past
 * validation either make the serializer throw or come back as one inert literal.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { credentialEnvName } from '../sidecar-templates/common.js';
import {
  BUFFER_ROOT, CONFIG_FILE, type Directive, MULTILINE_BODY, MULTILINE_FIRSTLINE, NO_TIME_KEY, TMP_MOUNT, budgetOf, bufferSizes, envRef,
  fluentdDirectives, jsonHash, quoteString, renderFluentd, serializeFluentd, tagOf,
} from '../sidecar-templates/fluentd/index.js';
import { type AgentRenderInput, type AgentStream, FACT_ENV, PATHS, VOLUMES } from '../sidecar-templates/types.js';
import { AGENT_CONFIG, type ParserName } from '../webhook/core/annotations.js';
import { type Output, OutputSchema, SIDELOG_FLUENTD_IMAGE, policyFromObject } from '../webhook/core/policy.js';
import { RESERVED_KEYS, parsesFields } from '../sidecar-templates/records.js';
import { type FluentdElement, find, param, params, parseFluentdConf, rubyCode } from './helpers/fluentd-conf.js';

// ---------------------------------------------------------------------------------------------
// Fixtures

interface KeyFixture {
  common: string[];
  outputCommon: string[];
  plugins: Record<string, string[]>;
  sections: Record<string, string[] | string>;
  sectionsByPlugin: Record<string, string[]>;
}
const KEYS = JSON.parse(readFileSync(new URL('./fixtures/agent-keys/fluentd.json', import.meta.url), 'utf8')) as KeyFixture;
/** <system> is not in the fixture: Fluent::SystemConfig's config_params (lib/fluent/system_config.rb). */
const SYSTEM_KEYS = [
  'workers', 'root_dir', 'log_level', 'suppress_repeated_stacktrace', 'emit_error_log_interval', 'suppress_config_dump',
  'log_event_verbose', 'without_source', 'rpc_endpoint', 'enable_get_dump', 'process_name', 'file_permission', 'dir_permission',
];

const DEFAULTS = policyFromObject({}).defaults;
const BIG_BUFFER = policyFromObject({ defaults: { bufferSize: '2Gi' } }).defaults;

const out = (o: Record<string, unknown>): Output => OutputSchema.parse(o);

let nextIndex = 0;
function stream(over: Partial<AgentStream> & { output: Output }): AgentStream {
  const index = over.index ?? nextIndex++;
  const name = over.name ?? `s${index}`;
  return {
    index,
    name,
    container: 'web',
    appPath: `/var/log/app/${name}.log`,
    sidecarPath: `${PATHS.logs}/sidelog-log-0/${name}.log`,
    parser: 'none',
    critical: false,
    outputName: over.output.type,
    ...over,
  };
}

const input = (streams: AgentStream[], over: Partial<AgentRenderInput> = {}): AgentRenderInput => ({
  streams,
  defaults: DEFAULTS,
  flushSeconds: 20,
  namespace: 'team-a',
  ...over,
});

/** The config text of a render, read back as Fluentd reads it. */
function rendered(i: AgentRenderInput) {
  const r = renderFluentd(i);
  expect(r.files).toHaveLength(1);
  expect(r.files[0]).toMatchObject({ file: CONFIG_FILE, annotation: AGENT_CONFIG });
  return { r, text: r.files[0]!.text, root: parseFluentdConf(r.files[0]!.text) };
}

const top = (root: FluentdElement, name: string) => root.children.filter((c) => c.name === name);
/** The tail sources (the monitors are sources too). */
const tails = (root: FluentdElement) => top(root, 'source').filter((c) => param(c, '@type') === 'tail');
/** A stream's filter by its @id prefix (guard_, parse_, filter_, genid_, app_<key>_, raw_, file_). */
const filterById = (root: FluentdElement, id: string) => top(root, 'filter').find((f) => param(f, '@id') === id)!;
const child = (el: FluentdElement, name: string): FluentdElement => {
  const found = el.children.filter((c) => c.name === name);
  expect(found).toHaveLength(1);
  return found[0]!;
};
const values = (el: FluentdElement): Record<string, string> => Object.fromEntries(el.params.map((p) => [p.key, p.value]));
const matchOf = (root: FluentdElement, tag: string): FluentdElement => {
  const m = top(root, 'match').filter((e) => e.arg === tag);
  expect(m).toHaveLength(1);
  return m[0]!;
};

// ---------------------------------------------------------------------------------------------
// Checks every test uses

/** Every parameter and section exists for its plugin in the fixture (sections via "sections"). */
function assertKnownKeys(root: FluentdElement): void {
  const bad: string[] = [];
  const checkParams = (el: FluentdElement, allowed: readonly string[], where: string) => {
    if (allowed.includes('*')) return;
    for (const p of el.params) if (!allowed.includes(p.key)) bad.push(`${where}: ${p.key}`);
  };
  const checkSections = (el: FluentdElement, pluginKey: string) => {
    const allowedSections = KEYS.sectionsByPlugin[pluginKey] ?? [];
    for (const c of el.children) {
      const where = `${pluginKey} <${c.name}>`;
      if (!allowedSections.includes(c.name)) {
        bad.push(`${pluginKey}: section <${c.name}>`);
        continue;
      }
      expect(c.children).toEqual([]);
      const type = param(c, '@type');
      const keys = (type !== undefined ? KEYS.sections[`${c.name}:${type}`] : undefined) ?? KEYS.sections[c.name];
      if (c.name === 'parse') {
        checkParams(c, KEYS.plugins[`parse:${type}`] ?? [], where);
      } else if (Array.isArray(keys)) {
        checkParams(c, keys, where);
      } else {
        bad.push(`${where}: no keys known`);
      }
    }
  };
  for (const el of root.children) {
    if (el.name === 'system') {
      checkParams(el, SYSTEM_KEYS, '<system>');
      expect(el.children).toEqual([]);
      continue;
    }
    const kind = el.name === 'source' ? 'source' : el.name === 'filter' ? 'filter' : el.name === 'match' ? 'match' : undefined;
    if (!kind) {
      bad.push(`top-level <${el.name}>`);
      continue;
    }
    const pluginKey = `${kind}:${param(el, '@type')}`;
    const pluginKeys = KEYS.plugins[pluginKey];
    if (!pluginKeys) {
      bad.push(`unknown plugin ${pluginKey}`);
      continue;
    }
    checkParams(el, [...KEYS.common, ...(kind === 'match' ? KEYS.outputCommon : []), ...pluginKeys], pluginKey);
    checkSections(el, pluginKey);
  }
  expect(bad).toEqual([]);
}

/** A Directive as the parser reports it: decoded values, env refs as the literal Ruby text. */
type Shape = { name: string; arg: string; params: Array<[string, string]>; children: Shape[] };
function shapeOfDirective(d: Directive): Shape {
  return {
    name: d.name,
    arg: d.arg ?? '',
    params: d.params.map(([k, v]) => [k, typeof v === 'string' ? v : 'env' in v ? `#{ENV['${v.env}']}` : JSON.stringify(v.json)]),
    children: (d.children ?? []).map(shapeOfDirective),
  };
}
function shapeOfElement(e: FluentdElement): Shape {
  return { name: e.name, arg: e.arg, params: e.params.map((p) => [p.key, p.value]), children: e.children.map(shapeOfElement) };
}

/** The env vars the container will have: the downward-API facts plus what the render adds. */
const envNames = (r: ReturnType<typeof renderFluentd>) => new Set<string>([...Object.values(FACT_ENV), ...r.env.map((e) => e.name)]);

/** The common checks: known keys, data == parsed text, only intended Ruby, every ENV present. */
function check(i: AgentRenderInput) {
  const got = rendered(i);
  assertKnownKeys(got.root);
  const data = fluentdDirectives(i);
  expect(shapeOfElement(got.root).children).toEqual(data.map(shapeOfDirective));
  expect(got.root.params).toEqual([]);
  // Embedded Ruby: exactly the ENV lookups of the data, each of a var the container has.
  const intended = data.flatMap(function refs(d: Directive): string[] {
    return [...d.params.flatMap(([, v]) => (typeof v === 'object' && 'env' in v ? [`ENV['${v.env}']`] : [])), ...(d.children ?? []).flatMap(refs)];
  });
  expect(rubyCode(got.root)).toEqual(intended);
  const names = envNames(got.r);
  for (const code of intended) {
    const m = /^ENV\['([A-Z_][A-Z0-9_]*)'\]$/.exec(code);
    expect(m).not.toBeNull();
    expect(names.has(m![1]!)).toBe(true);
  }
  // Double quotes only around those lookups.
  const walk = (e: FluentdElement): void => {
    for (const p of e.params) if (p.quoting === 'double') expect(p.raw).toMatch(/^"#\{ENV\['[A-Z_][A-Z0-9_]*'\]\}"$/);
    e.children.forEach(walk);
  };
  walk(got.root);
  // The monitors, then per stream: one source, its record filters (records.ts), one match, on the stream's tag.
  const monitors = got.r.image === SIDELOG_FLUENTD_IMAGE ? 3 : 1;
  const filters = (s: AgentStream) =>
    2 + (parsesFields(s.parser) ? 1 + RESERVED_KEYS.length + 2 : 0) + (s.parser.startsWith('multiline-') ? 1 : 0) + (s.output.type === 'elasticsearch' ? 1 : 0);
  expect(got.root.children.map((c) => `${c.name} ${c.arg}`)).toEqual([
    'system ',
    ...Array.from({ length: monitors }, () => 'source '),
    ...i.streams.flatMap((s) => [`source `, ...Array.from({ length: filters(s) }, () => `filter ${tagOf(s, i.namespace)}`), `match ${tagOf(s, i.namespace)}`]),
  ]);
  return got;
}

// ---------------------------------------------------------------------------------------------
// Outputs

const CATALOG: Record<string, Record<string, unknown>> = {
  'forward-tls-key': { type: 'forward', host: 'fluentd.logging.svc', tls: true, credentialsSecret: 'forward-key', tag: 'sidelog.team-a.app' },
  'forward-plain': { type: 'forward', host: '10.0.0.12', requireAck: false, tag: 'sidelog.team-a.app' },
  'forward-noverify': { type: 'forward', host: 'agg', tls: true, tlsVerify: false, tag: 'sidelog.team-a.app' },
  'kafka-scram-tls': { type: 'kafka', brokers: ['kafka-0.kafka:9093', 'kafka-1.kafka:9093'], topic: 'team-a', tls: true, saslMechanism: 'SCRAM-SHA-512', credentialsSecret: 'kafka-creds' },
  'kafka-plain-sasl': { type: 'kafka', brokers: ['k:9092'], topic: 'logs', credentialsSecret: 'kafka-creds' },
  'kafka-anon': { type: 'kafka', brokers: ['k:9092'], topic: 'logs' },
  'es-main': { type: 'elasticsearch', host: 'es.logging.svc', tls: true, index: 'logs-team-a', credentialsSecret: 'es-creds' },
  'es-anon': { type: 'elasticsearch', host: 'es.logging.svc', index: 'logs' },
  opensearch: { type: 'elasticsearch', distribution: 'opensearch', host: 'os.logging.svc', tls: true, tlsVerify: false, index: 'team-a-app' },
  'opensearch-creds': { type: 'elasticsearch', distribution: 'opensearch', host: 'os.logging.svc', index: 'x', credentialsSecret: 'os-creds' },
  loki: { type: 'loki', host: 'loki.logging.svc', tenant: 'team-a', labels: { namespace: 'team-a', app: 'web', stream: 'app' } },
  'loki-creds': { type: 'loki', host: 'logs.grafana.net', port: 443, tls: true, tlsVerify: false, credentialsSecret: 'loki-creds', labels: {} },
  'http-sink': { type: 'http', host: 'logs.example.com', uri: '/ingest/team-a', tls: true, credentialsSecret: 'http-creds' },
  'http-anon': { type: 'http', host: 'sink', port: 8080, uri: '/', tls: true, tlsVerify: false },
  's3-archive': { type: 's3', bucket: 'team-logs', region: 'eu-west-1', prefix: 'archive/team-a/app', credentialsSecret: 'aws-creds' },
  's3-minio': { type: 's3', bucket: 'logs', region: 'us-east-1', prefix: '/x/', endpoint: 'http://minio.svc:9000/', totalFileSize: '2G', uploadTimeout: '1h' },
  gcl: { type: 'stackdriver', logName: 'team-a.app', credentialsSecret: 'gcp-key' },
  'gcl-metadata': { type: 'stackdriver', logName: 'team-a.app' },
  cloudwatch: { type: 'cloudwatch', region: 'us-east-1', logGroup: '/k8s/team-a', logStreamPrefix: 'app.', autoCreateGroup: true },
  'cloudwatch-creds': { type: 'cloudwatch', region: 'us-east-1', logGroup: '/k8s/team-a', credentialsSecret: 'aws' },
  syslog: { type: 'syslog', host: 'syslog.logging.svc', port: 6514, protocol: 'tls', format: 'rfc5424' },
  'syslog-udp': { type: 'syslog', host: 'syslog.logging.svc', protocol: 'udp' },
  'syslog-noverify': { type: 'syslog', host: 'syslog.logging.svc', protocol: 'tls', tlsVerify: false },
  stdout: { type: 'stdout' },
};

const PLUGIN: Record<string, string> = {
  forward: 'forward', kafka: 'kafka2', loki: 'loki', http: 'http', s3: 's3', stackdriver: 'google_cloud',
  cloudwatch: 'cloudwatch_logs', syslog: 'remote_syslog', stdout: 'stdout',
};

describe.each(Object.entries(CATALOG))('output %s', (outputName, spec) => {
  it.each([false, true])('critical %s: known keys, data round trip, ENV only, the plugin and its buffer', (critical) => {
    const o = out(spec);
    const s = stream({ name: 'app', index: 0, outputName, output: o, critical, parser: 'json' });
    const i = input([s]);
    const { r, root } = check(i);
    const match = matchOf(root, tagOf(s, 'team-a'));
    const sizes = bufferSizes(s, budgetOf(i));
    const type = o.type === 'elasticsearch' ? (o.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch') : PLUGIN[o.type]!;
    expect(param(match, '@type')).toBe(type);
    expect(param(match, '@id')).toBe('out_app');
    expect(r.problems).toEqual([]);

    const buffer = child(match, 'buffer');
    const b = values(buffer);
    const fileBuffered = critical || o.type === 's3';
    expect(r.needsBuffer).toBe(fileBuffered);
    expect(b.flush_at_shutdown).toBe('true');
    expect(b.disable_chunk_backup).toBe('true');
    if (fileBuffered) {
      expect(b['@type']).toBe('file');
      expect(b.path).toBe(`${PATHS.buffer}/fluentd/app`);
      // budget.ts: 1Gi - reserve (max(16, 103) + 2) = 919 MiB; S3 keeps one chunk of it for its gzip Tempfile.
      expect(b.total_limit_size).toBe(o.type === 's3' ? `${919 - sizes.chunkMib}m` : '919m');
      expect(r.env).toContainEqual({ name: 'TMPDIR', value: BUFFER_ROOT });
    } else {
      expect(b['@type']).toBe('memory');
      // budget.ts: (256Mi - 96 base - 2) / 2 = 79 MiB for the one stream.
      expect(b.total_limit_size).toBe('79m');
      expect(r.env.some((e) => e.name === 'TMPDIR')).toBe(false);
    }
    if (critical) {
      expect(b).toMatchObject({ retry_forever: 'true', overflow_action: 'block' });
      expect(b.retry_max_times).toBeUndefined();
    } else {
      expect(b).toMatchObject({ retry_max_times: '10', overflow_action: 'drop_oldest_chunk' });
      expect(b.retry_forever).toBeUndefined();
    }
    if (o.type === 's3') {
      expect(buffer.arg).toBe('time');
      expect(b).toMatchObject({ flush_mode: 'lazy', timekey: o.uploadTimeout });
      expect(b.flush_interval).toBeUndefined();
    } else {
      expect(b).toMatchObject({ flush_mode: 'interval', flush_interval: '1s' });
    }
    if (o.type === 'forward' || o.type === 'elasticsearch') expect(buffer.arg).toBe('tag');
    if (o.type === 'kafka') expect(buffer.arg).toBe('topic');
    if (o.type === 'kafka') expect(param(match, 'required_acks')).toBe(critical ? '-1' : '1');
  });
});

describe('output specifics', () => {
  const only = (name: string, over: Partial<AgentStream> = {}) => {
    const s = stream({ name: 'app', index: 0, outputName: name, output: out(CATALOG[name]!), ...over });
    const got = check(input([s]));
    return { ...got, s, match: matchOf(got.root, tagOf(s, 'team-a')) };
  };

  it('forward: <server>, TLS with verification, ack, <security> from the Secret', () => {
    const { r, root, match } = only('forward-tls-key');
    // Fluentd forwards the event tag: the stream is tagged with the catalog's (namespaced) tag.
    expect(param(top(root, 'source').find((x) => param(x, '@type') === 'tail')!, 'tag')).toBe('sidelog.team-a.app');
    expect(values(match)).toMatchObject({ transport: 'tls', tls_verify_hostname: 'true', tls_insecure_mode: 'false', require_ack_response: 'true' });
    expect(values(child(match, 'server'))).toEqual({ host: 'fluentd.logging.svc', port: '24224' });
    const key = credentialEnvName('forward-tls-key', 'shared-key');
    expect(values(child(match, 'security'))).toEqual({ self_hostname: `#{ENV['${FACT_ENV.pod}']}`, shared_key: `#{ENV['${key}']}` });
    expect(r.env).toContainEqual({ name: key, valueFrom: { secretKeyRef: { name: 'forward-key', key: 'shared-key' } } });
  });

  it('forward: plain, no ack, no security; TLS without verification', () => {
    const plain = only('forward-plain').match;
    expect(param(plain, 'transport')).toBeUndefined();
    expect(param(plain, 'require_ack_response')).toBe('false');
    expect(plain.children.map((c) => c.name)).toEqual(['server', 'buffer']);
    expect(values(only('forward-noverify').match)).toMatchObject({ tls_verify_hostname: 'false', tls_insecure_mode: 'true' });
  });

  it('kafka2: brokers, topic, <format> json, SCRAM over TLS from the Secret', () => {
    const { match } = only('kafka-scram-tls');
    const user = credentialEnvName('kafka-scram-tls', 'username');
    expect(values(match)).toMatchObject({
      brokers: 'kafka-0.kafka:9093,kafka-1.kafka:9093', default_topic: 'team-a', ssl_ca_certs_from_system: 'true', ssl_verify_hostname: 'true',
      username: `#{ENV['${user}']}`, scram_mechanism: 'sha512', sasl_over_ssl: 'true',
    });
    expect(values(child(match, 'format'))).toEqual({ '@type': 'json' });
  });

  it('kafka2: PLAIN SASL without TLS turns sasl_over_ssl off; no Secret, no SASL', () => {
    const plain = values(only('kafka-plain-sasl').match);
    expect(plain).toMatchObject({ sasl_over_ssl: 'false' });
    expect(plain.scram_mechanism).toBeUndefined();
    expect(plain.ssl_ca_certs_from_system).toBeUndefined();
    const anon = values(only('kafka-anon').match);
    expect(anon.username).toBeUndefined();
    expect(anon.sasl_over_ssl).toBeUndefined();
  });

  it('elasticsearch: https, verification, user/password from the Secret, index, no _type, no start-up probe', () => {
    const { match } = only('es-main');
    expect(values(match)).toMatchObject({
      host: 'es.logging.svc', port: '9200', scheme: 'https', ssl_verify: 'true', index_name: 'logs-team-a', suppress_type_name: 'true',
      user: `#{ENV['${credentialEnvName('es-main', 'username')}']}`, password: `#{ENV['${credentialEnvName('es-main', 'password')}']}`,
      verify_es_version_at_startup: 'false',
    });
    const anon = values(only('es-anon').match);
    expect(anon).toMatchObject({ scheme: 'http' });
    expect(anon.user).toBeUndefined();
    expect(anon.ssl_verify).toBeUndefined();
  });

  it('opensearch: its own plugin, TLS without verification, credentials', () => {
    expect(values(only('opensearch').match)).toMatchObject({ scheme: 'https', ssl_verify: 'false', index_name: 'team-a-app', verify_os_version_at_startup: 'false' });
    expect(values(only('opensearch-creds').match).user).toBe(`#{ENV['${credentialEnvName('opensearch-creds', 'username')}']}`);
  });

  it('loki: url, tenant, labels as one JSON hash, json lines; credentials and insecure TLS', () => {
    const { match } = only('loki');
    expect(params(match, 'extra_labels')[0]).toMatchObject({ quoting: 'json' });
    expect(JSON.parse(param(match, 'extra_labels')!)).toEqual({ namespace: 'team-a', app: 'web', stream: 'app' });
    expect(values(match)).toMatchObject({ url: 'http://loki.logging.svc:3100', tenant: 'team-a', line_format: 'json' });
    const creds = values(only('loki-creds').match);
    expect(creds).toMatchObject({ url: 'https://logs.grafana.net:443', insecure_tls: 'true', username: `#{ENV['${credentialEnvName('loki-creds', 'username')}']}` });
    expect(JSON.parse(creds.extra_labels!)).toEqual({ job: 'sidelog' });
  });

  it('http: endpoint from host/port/uri/tls, <format> json, <auth> basic from the Secret', () => {
    const { match } = only('http-sink');
    expect(values(match)).toMatchObject({ endpoint: 'https://logs.example.com:443/ingest/team-a', http_method: 'post' });
    expect(values(child(match, 'format'))).toEqual({ '@type': 'json' });
    expect(values(child(match, 'auth'))).toEqual({
      method: 'basic', username: `#{ENV['${credentialEnvName('http-sink', 'username')}']}`, password: `#{ENV['${credentialEnvName('http-sink', 'password')}']}`,
    });
    const anon = only('http-anon').match;
    expect(values(anon)).toMatchObject({ endpoint: 'https://sink:8080/', tls_verify_mode: 'none' });
    expect(anon.children.map((c) => c.name)).toEqual(['format', 'buffer']);
  });

  it('s3: bucket, region, time-sliced key with a UUID, gzip, file buffer; AWS credentials only as SDK env vars', () => {
    const { r, match } = only('s3-archive');
    expect(values(match)).toMatchObject({
      s3_bucket: 'team-logs', s3_region: 'eu-west-1', path: 'archive/team-a/app/%Y/%m/%d/', store_as: 'gzip',
      s3_object_key_format: '%{path}%{time_slice}_%{uuid_flush}.%{file_extension}', check_apikey_on_start: 'false',
    });
    expect(param(match, 'aws_key_id')).toBeUndefined();
    expect(r.env.map((e) => e.name)).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'TMPDIR']);
    expect(values(child(match, 'buffer'))).toMatchObject({ '@type': 'file', path: `${PATHS.buffer}/fluentd/app`, timekey: '10m', chunk_limit_size: '50m', total_limit_size: '869m' });
    const minio = only('s3-minio').match;
    expect(values(minio)).toMatchObject({ s3_endpoint: 'http://minio.svc:9000', path: 'x/%Y/%m/%d/' });
    // 2G does not fit the per-stream share of a 1Gi volume: half of the share.
    // 2G does not fit the 919 MiB disk unit: a quarter of it, the rest for the buffer.
    expect(values(child(minio, 'buffer'))).toMatchObject({ chunk_limit_size: '229m', total_limit_size: '690m' });
  });

  it('google_cloud: key file from the Secret and no metadata server, else the metadata server', () => {
    const { r, match } = only('gcl');
    expect(values(match)).toEqual({ '@type': 'google_cloud', '@id': 'out_app', use_metadata_service: 'false' });
    expect(r.env).toContainEqual({ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: `${PATHS.credentials}/gcl/key.json` });
    expect(r.mounts).toContainEqual({ name: 'sidelog-cred-gcl', mountPath: `${PATHS.credentials}/gcl`, readOnly: true });
    expect(r.volumes.map((v) => v.name)).toEqual(['sidelog-cred-gcl']);
    expect(param(only('gcl-metadata').match, 'use_metadata_service')).toBe('true');
  });

  it('cloudwatch_logs: region, group, stream = prefix + stream name, auto-created', () => {
    expect(values(only('cloudwatch').match)).toMatchObject({ region: 'us-east-1', log_group_name: '/k8s/team-a', log_stream_name: 'app.app', auto_create_stream: 'true' });
    expect(only('cloudwatch-creds').r.env.map((e) => e.name)).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
  });

  it('remote_syslog: tcp + tls, udp, no verification, program = stream name, host name = node', () => {
    expect(values(only('syslog').match)).toMatchObject({
      host: 'syslog.logging.svc', port: '6514', protocol: 'tcp', tls: 'true', program: 'app', hostname: `#{ENV['${FACT_ENV.node}']}`,
    });
    expect(values(only('syslog').match).verify_mode).toBeUndefined();
    const udp = values(only('syslog-udp').match);
    expect(udp).toMatchObject({ protocol: 'udp', port: '514' });
    expect(udp.tls).toBeUndefined();
    expect(values(only('syslog-noverify').match)).toMatchObject({ tls: 'true', verify_mode: '0' });
  });

  it('stdout: json lines', () => {
    expect(values(child(only('stdout').match, 'format'))).toEqual({ '@type': 'json' });
  });

  it('bounds each delivery attempt by the shutdown flush time (never below 5 s)', () => {
    const s = stream({ name: 'app', index: 0, output: out(CATALOG['forward-tls-key']!) });
    const m = (flushSeconds: number) => matchOf(parseFluentdConf(renderFluentd(input([s], { flushSeconds })).files[0]!.text), tagOf(s, 'team-a'));
    expect(values(m(12))).toMatchObject({ send_timeout: '12s', connect_timeout: '12s', ack_response_timeout: '12s' });
    expect(values(m(1))).toMatchObject({ send_timeout: '5s' });
  });
});

// ---------------------------------------------------------------------------------------------
// Sources and parsers

const PARSERS: ParserName[] = ['none', 'json', 'regex', 'nginx', 'apache', 'syslog', 'multiline-java', 'multiline-go', 'multiline-python'];
const PARSE_TYPE: Record<ParserName, string> = {
  none: 'none', json: 'json', regex: 'regexp', nginx: 'nginx', apache: 'apache2', syslog: 'syslog',
  'multiline-java': 'multiline', 'multiline-go': 'multiline', 'multiline-python': 'multiline',
};
const REGEX = String.raw`^(?<time>\S+) \[(?<level>[A-Z]+)\] (?<message>.*)$`;

describe.each(PARSERS)('parser %s', (parser) => {
  it('tails with a pos file on the state volume and the right <parse>', () => {
    const s = stream({ name: 'app', index: 0, output: out({ type: 'stdout' }), parser, ...(parser === 'regex' ? { regex: REGEX } : {}) });
    const { root } = check(input([s]));
    const [source] = tails(root);
    const fields = ['json', 'regex', 'nginx', 'apache', 'syslog'].includes(parser);
    expect(values(source!)).toMatchObject({
      '@type': 'tail', '@id': 'in_app', path: s.sidecarPath, pos_file: `${PATHS.state}/app.pos`, tag: 'sidelog.team-a.app',
      read_from_head: 'true', follow_inodes: 'true', path_key: fields ? 'sidelog_file' : 'file', emit_unmatched_lines: 'true',
    });
    expect(param(source!, 'refresh_interval')).toBeDefined();
    expect(param(source!, 'rotate_wait')).toBeDefined();
    // Field parsers run in a parser filter after the raw line was read (and guarded), as in Fluent Bit.
    const tailParse = child(source!, 'parse');
    if (fields) expect(values(tailParse)).toEqual({ '@type': 'none', message_key: 'sidelog_raw' });
    const parse = fields ? child(filterById(root, 'parse_app'), 'parse') : tailParse;
    expect(param(parse, '@type')).toBe(PARSE_TYPE[parser]);
    const multiline = parser.startsWith('multiline-');
    expect(param(source!, 'multiline_flush_interval') !== undefined).toBe(multiline);
    if (parser === 'regex') {
      expect(param(parse, 'expression')).toBe(`/${REGEX}/`);
      expect(params(parse, 'expression')[0]!.quoting).toBe('single');
    }
    if (parser === 'json' || parser === 'regex') expect(param(parse, 'time_key')).toBe(NO_TIME_KEY);
    if (parser === 'none') expect(param(parse, 'message_key')).toBe('log');
    if (parser === 'syslog') expect(values(parse)).toMatchObject({ message_format: 'rfc3164', with_priority: 'false' });
    if (multiline) {
      expect(param(parse, 'format_firstline')).toBe(MULTILINE_FIRSTLINE[parser as keyof typeof MULTILINE_FIRSTLINE]);
      expect(param(parse, 'format1')).toBe(MULTILINE_BODY);
      // parser_multiline.rb insists on /.../ and contiguous formatN.
      for (const key of ['format_firstline', 'format1']) expect(param(parse, key)).toMatch(/^\/.*\/$/);
    }
  });
});

describe('tail path', () => {
  it('escapes strftime % and moves the path delimiter away from commas; extended globs for ? and [ ]', () => {
    const s = stream({ name: 'app', index: 0, output: out({ type: 'stdout' }), sidecarPath: `${PATHS.logs}/v/a%d,b[0-9]?.log` });
    const { root } = check(input([s]));
    expect(values(tails(root)[0]!)).toMatchObject({ path: `${PATHS.logs}/v/a%%d,b[0-9]?.log`, path_delimiter: '|', glob_policy: 'extended' });
    const star = stream({ name: 'b', index: 1, output: out({ type: 'stdout' }), sidecarPath: `${PATHS.logs}/v/*.log` });
    const source = tails(check(input([star])).root)[0]!;
    expect(param(source, 'path')).toBe(`${PATHS.logs}/v/*.log`);
    expect(param(source, 'path_delimiter')).toBeUndefined();
    expect(param(source, 'glob_policy')).toBeUndefined();
  });
});

/** Ruby regexps used here are also JavaScript ones, once \A and \z are spelled ^ and $ (no m flag). */
const jsRegex = (slashed: string) => new RegExp(slashed.slice(1, -1).replace(/\\A/g, '^').replace(/\\z/g, '$'), 's');

describe('multiline first lines', () => {
  const cases: Record<keyof typeof MULTILINE_FIRSTLINE, { first: string[]; continuation: string[] }> = {
    'multiline-java': {
      first: ['2024-05-01 12:00:00 ERROR Request failed', 'INFO started in 3s', 'Exception in thread "main" java.lang.IllegalStateException: x'],
      continuation: [
        'java.lang.IllegalStateException: boom', 'com.acme.OrderError', '\tat com.acme.Orders.place(Orders.java:42)', 'at x.Y.z(Y.java:1)',
        'Caused by: java.io.IOException: closed', '\t... 12 more', '... 3 more', 'Suppressed: x', '',
      ],
    },
    'multiline-python': {
      first: ['ERROR:root:request failed', '2024-05-01 12:00:00,001 INFO ready', 'WARNING something'],
      continuation: [
        'Traceback (most recent call last):', '  File "app.py", line 3, in <module>', '    main()', 'ValueError: bad value',
        'requests.exceptions.ConnectionError: refused', 'KeyboardInterrupt', '', 'During handling of the above exception, another exception occurred:',
        'The above exception was the direct cause of the following exception:',
      ],
    },
    'multiline-go': {
      first: ['panic: runtime error: invalid memory address or nil pointer dereference', 'fatal error: all goroutines are asleep - deadlock!', '2024/05/01 12:00:00 listening on :8080'],
      continuation: [
        '[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b20]', '', 'goroutine 1 [running]:', 'main.main()',
        'main.(*Server).handle(0xc000010000, {0x4d2c80, 0xc000112000})', '\t/app/main.go:12 +0x1d', 'created by net/http.(*Server).Serve in goroutine 1', 'exit status 2',
      ],
    },
  };
  it.each(Object.entries(cases))('%s: a record starts only where no stack trace continues', (parser, c) => {
    const re = jsRegex(MULTILINE_FIRSTLINE[parser as keyof typeof MULTILINE_FIRSTLINE]);
    for (const line of c.first) expect([line, re.test(line)]).toEqual([line, true]);
    for (const line of c.continuation) expect([line, re.test(line)]).toEqual([line, false]);
  });
  it('the body takes the whole record, line breaks and all', () => {
    expect(jsRegex(MULTILINE_BODY).exec('a\n\tat b\nCaused by: c')?.groups?.log).toBe('a\n\tat b\nCaused by: c');
  });
});

// ---------------------------------------------------------------------------------------------
// The filter, system section, container shell

describe('enrichment and the process', () => {
  it('adds pod, namespace, node from the downward-API env vars and container/stream as literals', () => {
    const s = stream({ name: 'audit', index: 0, container: 'worker', output: out({ type: 'stdout' }) });
    const { root } = check(input([s]));
    const filter = filterById(root, 'filter_audit');
    expect(filter!.arg).toBe('sidelog.team-a.audit');
    expect(values(filter!)).toEqual({ '@type': 'record_transformer', '@id': 'filter_audit' });
    expect(values(child(filter!, 'record'))).toEqual({
      pod: `#{ENV['${FACT_ENV.pod}']}`, namespace: `#{ENV['${FACT_ENV.namespace}']}`, node: `#{ENV['${FACT_ENV.node}']}`, container: 'worker', stream: 'audit',
    });
    expect(params(child(filter!, 'record'), 'container')[0]!.quoting).toBe('none');
  });

  it('<system>: info, root_dir and everything else on the volumes, no config dump', () => {
    const { root } = check(input([stream({ output: out({ type: 'stdout' }) })]));
    expect(values(top(root, 'system')[0]!)).toEqual({ log_level: 'info', root_dir: `${PATHS.state}/fluentd`, suppress_config_dump: 'true' });
  });

  it('runs fluentd on the generated file without a supervisor, with a writable /tmp from the state volume', () => {
    const r = renderFluentd(input([stream({ output: out({ type: 'stdout' }) })]));
    expect(r.command).toEqual(['fluentd']);
    expect(r.args).toEqual(['--config', `${PATHS.config}/fluent.conf`, '--no-supervisor']);
    expect(r.mounts).toEqual([TMP_MOUNT]);
    expect(TMP_MOUNT).toEqual({ name: VOLUMES.state, mountPath: '/tmp', subPath: 'tmp' });
    expect(r.needsBuffer).toBe(false);
    expect(r.image).toBe(SIDELOG_FLUENTD_IMAGE);
  });

  it('every path Fluentd writes is on the state or buffer volume', () => {
    const streams = [
      stream({ name: 'a', index: 0, output: out(CATALOG['s3-archive']!) }),
      stream({ name: 'b', index: 1, output: out(CATALOG['s3-archive']!), critical: true }),
    ];
    const { root, r } = check(input(streams));
    const written = [
      ...tails(root).map((e) => param(e, 'pos_file')!),
      ...find(root, 'buffer').map((e) => param(e, 'path')!),
      param(top(root, 'system')[0]!, 'root_dir')!,
      r.env.find((e) => e.name === 'TMPDIR')!.value!,
    ];
    for (const p of written) expect([p, p.startsWith(`${PATHS.state}/`) || p.startsWith(`${PATHS.buffer}/`)]).toEqual([p, true]);
    expect(new Set(written).size).toBe(written.length);
  });
});

// ---------------------------------------------------------------------------------------------
// Buffers across streams

describe('buffer sizes', () => {
  it('splits the buffer volume over the file-buffered streams and the memory over all streams (budget.ts)', () => {
    const streams = [
      stream({ name: 'c1', index: 0, output: out({ type: 'stdout' }), critical: true }),
      stream({ name: 'c2', index: 1, output: out({ type: 'stdout' }), critical: true }),
      stream({ name: 'c3', index: 2, output: out(CATALOG['s3-archive']!) }),
      stream({ name: 'm1', index: 3, output: out({ type: 'stdout' }) }),
      stream({ name: 'm2', index: 4, output: out({ type: 'stdout' }) }),
    ];
    const { root, r } = check(input(streams, { defaults: BIG_BUFFER }));
    const limits = find(root, 'buffer').map((b) => [param(b, '@type'), param(b, 'total_limit_size'), param(b, 'chunk_limit_size')]);
    // Disk: 2048 MiB - reserve (max(16, 205) + 2 x 3 users) = 1837, over 3 file buffers = 612 MiB each;
    // S3's chunk is its 50M object, kept once more for the gzip Tempfile. Memory: (256 - 96 - 5 x 2) / 2 / 5 = 15 MiB a stream,
    // a chunk is a quarter of that (3 MiB).
    expect(limits).toEqual([['file', '612m', '3m'], ['file', '612m', '3m'], ['file', '562m', '50m'], ['memory', '15m', '3m'], ['memory', '15m', '3m']]);
    expect(r.needsBuffer).toBe(true);
  });

  it('keeps forward chunks under the receiving Fluent Bit\'s 6,144,000-byte Buffer_Max_Size', () => {
    const big = { memoryLimit: '1Gi' };
    const { root } = check(input([stream({ name: 'f', index: 0, output: out(CATALOG['forward-plain']!), critical: true })], big));
    const chunk = param(find(root, 'buffer')[0]!, 'chunk_limit_size')!;
    expect(chunk).toBe('5m');
    expect(5 * 2 ** 20).toBeLessThan(6_144_000);
  });
});

// ---------------------------------------------------------------------------------------------
// Problems: images and tags

describe('problems', () => {
  it('one image per pod: sidelog\'s image runs any mix; images the policy names per type that differ are a problem naming both', () => {
    const streams = [
      stream({ name: 'a', index: 0, outputName: 'kafka-logs', output: out(CATALOG['kafka-anon']!) }),
      stream({ name: 'b', index: 1, outputName: 's3-archive', output: out(CATALOG['s3-archive']!) }),
      stream({ name: 'c', index: 2, outputName: 'aggregator', output: out(CATALOG['forward-plain']!) }),
      stream({ name: 'd', index: 3, outputName: 'kafka-other', output: out({ ...CATALOG['kafka-anon']!, topic: 'other' }) }),
    ];
    const mixed = renderFluentd(input(streams));
    expect(mixed.problems).toEqual([]);
    expect(mixed.image).toBe(SIDELOG_FLUENTD_IMAGE);
    const perType = policyFromObject({ defaults: { images: { fluentd: { kafka: 'my/kafka:1', s3: 'my/s3:1', default: 'my/core:1' } } } }).defaults;
    const r = renderFluentd(input(streams, { defaults: perType }));
    expect(r.image).toBe('my/kafka:1');
    expect(r.problems.map((p) => p.field)).toEqual(['sidelog.io/streams[1].output', 'sidelog.io/streams[2].output']);
    expect(r.problems[0]!.message).toContain('my/s3:1');
    expect(r.problems[0]!.message).toContain('my/kafka:1');
    expect(r.problems[1]!.message).toContain('my/core:1');
    for (const p of r.problems) expect(p.message).toMatch(/fluent-bit.*one kind/);
  });

  it('no clash when the policy gives one image, or an output names its own', () => {
    const defaults = policyFromObject({ defaults: { images: { fluentd: 'registry.example.com/fluentd-all:1.19' } } }).defaults;
    const streams = [stream({ output: out(CATALOG['kafka-anon']!) }), stream({ output: out(CATALOG['s3-archive']!) })];
    const r = renderFluentd(input(streams, { defaults }));
    expect(r.problems).toEqual([]);
    expect(r.image).toBe('registry.example.com/fluentd-all:1.19');
    const own = renderFluentd(input([stream({ output: out({ type: 'stdout', fluentdImage: 'my/fluentd:1' }) })]));
    expect(own.image).toBe('my/fluentd:1');
    // Elasticsearch and OpenSearch in one pod: both plugins are in sidelog's image.
    const es = renderFluentd(input([stream({ output: out(CATALOG['es-anon']!) }), stream({ output: out(CATALOG.opensearch!) })]));
    expect(es.problems).toEqual([]);
  });

  it('passes on credential clashes from mergeCredentials', () => {
    const r = renderFluentd(input([
      stream({ outputName: 's3-a', output: out({ ...CATALOG['s3-archive']!, credentialsSecret: 'one' }) }),
      stream({ outputName: 's3-b', output: out({ ...CATALOG['s3-archive']!, credentialsSecret: 'two' }) }),
    ]));
    expect(r.problems.some((p) => p.message.includes('AWS_ACCESS_KEY_ID'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Injection

const HOSTILE = ['\n', '\r', '#{', '${', "'", '\\', '</match>', '@include', '"', '#', '%', '<', '>', '{', '[', ' # x', '\u2028'];

/** Either the serializer throws, or the config reads back with the same structure and `value` intact. */
function inertOrRefused(make: () => AgentRenderInput, locate: (root: FluentdElement) => string | undefined, expected: string): 'refused' | 'inert' {
  let i: AgentRenderInput;
  let text: string;
  try {
    i = make();
    text = renderFluentd(i).files[0]!.text;
  } catch {
    return 'refused';
  }
  const root = parseFluentdConf(text);
  expect(shapeOfElement(root).children).toEqual(fluentdDirectives(i).map(shapeOfDirective));
  expect(locate(root)).toBe(expected);
  expect(rubyCode(root).every((c) => /^ENV\['[A-Z_][A-Z0-9_]*'\]$/.test(c))).toBe(true);
  expect(find(root, '@include')).toEqual([]);
  return 'inert';
}

describe('injection', () => {
  it.each(HOSTILE)('a regex with %j is refused or one literal expression', (h) => {
    const regex = `^(?<m>.*)${h}x$`;
    const outcome = inertOrRefused(
      () => input([stream({ name: 'app', index: 0, output: out({ type: 'stdout' }), parser: 'regex', regex })]),
      (root) => param(find(root, 'parse').find((p) => param(p, '@type') === 'regexp')!, 'expression'),
      `/${regex}/`,
    );
    if (/[\n\r\u2028]/.test(h)) expect(outcome).toBe('refused');
    else expect(outcome).toBe('inert');
  });

  it.each(HOSTILE)('catalog values with %j (index, topic, uri, log group, tenant) are refused or one literal', (h) => {
    const cases: Array<[catalog: string, field: string, value: string, key: string, expected: string]> = [
      ['es-anon', 'index', `logs${h}x`, 'index_name', `logs${h}x`],
      ['kafka-anon', 'topic', `t${h}x`, 'default_topic', `t${h}x`],
      ['http-anon', 'uri', `/in${h}x`, 'endpoint', `https://sink:8080/in${h}x`],
      ['cloudwatch', 'logGroup', `/g${h}x`, 'log_group_name', `/g${h}x`],
      ['loki', 'tenant', `t${h}x`, 'tenant', `t${h}x`],
    ];
    for (const [catalog, field, value, key, expected] of cases) {
      // Push the hostile value past the schema, as a bug upstream would.
      const o = { ...out(CATALOG[catalog]!), [field]: value } as Output;
      const outcome = inertOrRefused(
        () => input([stream({ name: 'app', index: 0, output: o })]),
        (root) => param(top(root, 'match')[0]!, key),
        expected,
      );
      // A Kafka topic is also written into the record (so a log line cannot choose the topic),
      // and record_transformer would expand `${...}` there: the serializer refuses it.
      const refused = /[\n\r\u2028]/.test(h) || (field === 'topic' && h.includes('${'));
      expect(outcome).toBe(refused ? 'refused' : 'inert');
    }
  });

  it.each(HOSTILE)('a loki label with %j is refused or stays one JSON hash', (h) => {
    const o = { ...out(CATALOG.loki!), labels: { app: `v${h}x` } } as Output;
    const outcome = inertOrRefused(
      () => input([stream({ name: 'app', index: 0, output: o })]),
      (root) => JSON.parse(param(top(root, 'match')[0]!, 'extra_labels')!).app,
      `v${h}x`,
    );
    if (/[\n\r\u2028]/.test(h)) expect(outcome).toBe('refused');
    else expect(outcome).toBe('inert');
  });

  it.each(HOSTILE)('a container name with %j in <record> is refused or one literal, never a ${} placeholder', (h) => {
    const outcome = inertOrRefused(
      () => input([stream({ name: 'app', index: 0, container: `web${h}x`, output: out({ type: 'stdout' }) })]),
      (root) => param(find(root, 'record')[0]!, 'container'),
      `web${h}x`,
    );
    if (h === '${' || /[\n\r\u2028]/.test(h)) expect(outcome).toBe('refused');
  });

  it('refuses unsafe section names, arguments, parameter names and env var names', () => {
    const ser = (d: Directive) => () => serializeFluentd([d], 'h');
    expect(ser({ name: 'match', arg: 'a>b', params: [] })).toThrow(/argument/);
    expect(ser({ name: 'match', arg: 'a b', params: [] })).toThrow(/argument/);
    expect(ser({ name: 'match', arg: 'a.*', params: [] })).toThrow(/argument/);
    expect(ser({ name: 'match', arg: 'a.', params: [] })).toThrow(/argument/);
    expect(ser({ name: 'ma tch', params: [] })).toThrow(/section name/);
    expect(ser({ name: 'source', params: [['@include', '/etc/passwd']] })).toThrow(/parameter name/);
    expect(ser({ name: 'source', params: [['include', '/etc/passwd']] })).toThrow(/parameter name/);
    expect(ser({ name: 'source', params: [['path x', 'y']] })).toThrow(/parameter name/);
    expect(ser({ name: 'source', params: [['x', { env: "X']}\"; system('id') #" }]] })).toThrow(/env var/);
    expect(() => envRef('lower')).toThrow();
    expect(ser({ name: 'source', params: [['x', '']] })).toThrow(/empty/);
    expect(ser({ name: 'source', params: [['x', ' padded']] })).toThrow(/padded/);
    expect(ser({ name: 'record', params: [['x', 'a${tag}b']] })).toThrow(/\$\{/);
    expect(() => serializeFluentd([], 'two\nlines')).toThrow(/control/);
  });

  it('quoteString: any string without control characters reads back exactly, evaluating nothing', () => {
    const safe = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => s !== '' && s.trim() === s && !/[\u0000-\u001f\u007f\u2028\u2029]/.test(s));
    fc.assert(
      fc.property(safe, (s) => {
        const root = parseFluentdConf(`<source>\n  k ${quoteString(s, 'k')}\n  next ok\n</source>\n`);
        expect(root.children[0]!.params.map((p) => [p.key, p.value])).toEqual([['k', s], ['next', 'ok']]);
        expect(['none', 'single']).toContain(root.children[0]!.params[0]!.quoting);
        expect(rubyCode(root)).toEqual([]);
      }),
      { numRuns: 2000 },
    );
    // Characters that matter most, in every pairing.
    const alphabet = ["'", '\\', '#', '{', '}', '$', '"', ' ', 'a', '<', '>', '[', '@'];
    for (const a of alphabet) for (const b of alphabet) for (const c of alphabet) {
      const s = `${a}${b}${c}`.trim() === `${a}${b}${c}` ? `${a}${b}${c}` : `x${a}${b}${c}x`;
      const root = parseFluentdConf(`k ${quoteString(s, 'k')}\n`);
      expect(param(root, 'k')).toBe(s);
      expect(rubyCode(root)).toEqual([]);
    }
  });

  it('jsonHash: any keys and values read back as the same hash, on one line', () => {
    const str = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).filter((s) => s.trim() === s && !/[\u0000-\u001f\u007f\u2028\u2029]/.test(s));
    fc.assert(
      fc.property(fc.dictionary(str, str, { minKeys: 1, maxKeys: 4 }), (obj) => {
        const text = serializeFluentd([{ name: 'match', arg: 'x', params: [['h', jsonHash(obj)], ['next', 'ok']] }], 'h');
        expect(text.split('\n')).toHaveLength(7); // header, blank, <match>, h, next, </match>, final newline
        const m = parseFluentdConf(text).children[0]!;
        expect(JSON.parse(param(m, 'h')!)).toEqual(obj);
        expect(param(m, 'next')).toBe('ok');
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// A pod with everything

describe('a pod with several streams', () => {
  it('keeps streams apart: own ids, pos files, buffer paths and tags', () => {
    const streams = PARSERS.map((parser, i) =>
      stream({ name: `p${i}`, index: i, parser, critical: i % 2 === 0, output: out({ type: 'stdout' }), ...(parser === 'regex' ? { regex: REGEX } : {}) }),
    );
    const { root, r } = check(input(streams));
    const ids = [...find(root, 'source'), ...find(root, 'filter'), ...find(root, 'match')].map((e) => param(e, '@id'));
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(tails(root).map((e) => param(e, 'pos_file'))).size).toBe(streams.length);
    expect(find(root, 'buffer').filter((b) => param(b, '@type') === 'file').map((b) => param(b, 'path'))).toEqual(
      streams.filter((s) => s.critical).map((s) => `${BUFFER_ROOT}/${s.name}`),
    );
    expect(r.problems).toEqual([]);
  });
});

describe('tags', () => {
  it('forward and stackdriver streams carry the catalog value; a value Fluentd cannot use as a tag is a problem, not a broken config', () => {
    const fwd = stream({ name: 'a', index: 0, output: out({ type: 'forward', host: 'agg', tag: 'team-a.orders' }) });
    const bad = stream({ name: 'b', index: 1, output: out({ type: 'forward', host: 'agg', tag: '.team-a' }) });
    const gcl = stream({ name: 'c', index: 2, output: out({ type: 'stackdriver', logName: 'team-a.c' }) });
    const r = renderFluentd(input([fwd, bad, gcl]));
    const root = parseFluentdConf(r.files[0]!.text);
    expect(top(root, 'match').map((m) => m.arg)).toEqual(['team-a.orders', 'sidelog.team-a.b', 'team-a.c']);
    expect(r.problems).toEqual([{ field: 'sidelog.io/streams[1].output', message: expect.stringContaining('cannot tag events ".team-a"') }]);
  });

  it('two streams with one catalog tag: the second is a problem (Fluentd routes by tag)', () => {
    const o = out({ type: 'forward', host: 'agg', tag: 'team-a.all' });
    const r = renderFluentd(input([stream({ name: 'a', index: 0, output: o }), stream({ name: 'b', index: 1, output: o })]));
    expect(r.problems).toEqual([{ field: 'sidelog.io/streams[1].output', message: expect.stringContaining('stream "a" already uses "team-a.all"') }]);
  });
});
