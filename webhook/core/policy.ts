/**
 * The cluster admin's policy: defaults, the output catalog and which namespace may use which
 * output. Parsed once per file version with zod and cross-checked; the result is frozen.
 * An invalid policy is an InputError naming every bad field, so the caller can keep the last good one.
 */
import { z } from 'zod';
import { AGENTS, type AgentName, isParamValue } from './annotations.js';
import { isDns1123Label } from './names.js';
import { type Problem, InputError, fieldPath, zodProblems } from './problems.js';
import { isQuantity, parseQuantity } from './quantity.js';
import { paramPatternError, paramPatternMatches } from './regex.js';
import { YamlError, parseYamlDocument } from './yaml.js';

export const OUTPUT_TYPES = [
  'forward', 'kafka', 'elasticsearch', 'loki', 'http', 's3', 'stackdriver', 'cloudwatch', 'syslog', 'stdout',
] as const;
export type OutputType = (typeof OUTPUT_TYPES)[number];

/** Placeholders a catalog value may use; filled in at admission time. */
export const PLACEHOLDERS = ['namespace', 'stream', 'container'] as const;

const HOST = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const IPV4 = /^(\d{1,3}\.){3}\d{1,3}$/;
const SECRET_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Config values that may carry placeholders: the PARAM_VALUE characters plus `{` `}` around a placeholder name. */
const TEMPLATE = /^([A-Za-z0-9._/:@%+=-]|\{(namespace|stream|container)\})+$/;
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,254}$/;

const host = z.string().refine((h) => HOST.test(h) || IPV4.test(h), 'must be a host name or IPv4 address');
const port = z.number().int().min(1).max(65535);
const secretName = z.string().regex(SECRET_NAME, 'must be a Secret name (DNS-1123 subdomain)');
const template = (what: string) => z.string().max(253).regex(TEMPLATE, `${what}: letters, digits, . _ / : @ % + = - and {namespace} {stream} {container}`);
const quantity = z.string().refine(isQuantity, 'must be a Kubernetes quantity such as 64Mi or 1Gi');
const image = z.string().regex(IMAGE, 'must be an image reference');

/** podParams: `[topic]` or `{topic: {pattern: '{namespace}-.*'}}`. */
const podParams = z
  .union([z.array(z.string()), z.record(z.string(), z.strictObject({ pattern: z.string().max(512).optional() }))])
  .default([])
  .transform((p): Record<string, { pattern?: string }> => (Array.isArray(p) ? Object.fromEntries(p.map((k) => [k, {}])) : p));

const common = {
  podParams,
  /** Fluentd image for this output (Fluentd needs a plugin gem per destination). */
  fluentdImage: image.optional(),
};
/**
 * TLS material from Secrets in the pod's namespace: `tlsCASecret` holds the CA bundle under
 * `ca.crt`, `tlsClientSecret` a client certificate as a kubernetes.io/tls Secret (`tls.crt`,
 * `tls.key`). Both agents read them as files (docs/pipelines.md "TLS material").
 */
const tlsCA = { tlsCASecret: secretName.optional() };
const tlsClient = { tlsClientSecret: secretName.optional() };
const network = { host, tls: z.boolean().default(false), tlsVerify: z.boolean().default(true), ...tlsCA, ...tlsClient };

export const OutputSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('forward'), ...common, ...network, port: port.default(24224), requireAck: z.boolean().default(true), tag: template('tag').default('sidelog.{namespace}.{stream}'), credentialsSecret: secretName.optional() }),
  z.strictObject({ type: z.literal('kafka'), ...common, brokers: z.array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port')).min(1), topic: template('topic').default('{namespace}'), tls: z.boolean().default(false), tlsVerify: z.boolean().default(true), ...tlsCA, ...tlsClient, saslMechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']).default('PLAIN'), credentialsSecret: secretName.optional() }),
  z.strictObject({ type: z.literal('elasticsearch'), ...common, ...network, port: port.default(9200), distribution: z.enum(['elasticsearch', 'opensearch']).default('elasticsearch'), index: template('index').default('{namespace}'), credentialsSecret: secretName.optional() }),
  z.strictObject({ type: z.literal('loki'), ...common, ...network, port: port.default(3100), labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names: letters, digits, _'), template('label value')).default({ namespace: '{namespace}', container: '{container}', stream: '{stream}' }), tenant: template('tenant').optional(), credentialsSecret: secretName.optional() }),
  z.strictObject({ type: z.literal('http'), ...common, ...network, port: port.default(443), uri: template('uri').refine((u) => u.startsWith('/'), 'must start with /').default('/'), credentialsSecret: secretName.optional() }),
  z.strictObject({ type: z.literal('s3'), ...common, bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'), region: z.string().regex(/^[a-z0-9-]{2,32}$/, 'must be a region such as eu-west-1'), prefix: template('prefix').default('{namespace}/{stream}'), endpoint: z.string().regex(/^https?:\/\/[A-Za-z0-9.:-]+\/?$/, 'must be an http(s) URL').optional(), totalFileSize: z.string().regex(/^\d{1,6}[KMG]$/, 'must be like 50M').default('50M'), uploadTimeout: z.string().regex(/^\d{1,5}[smh]$/, 'must be like 10m').default('10m'), ...tlsCA, credentialsSecret: secretName.optional() }),
  z.strictObject({ type: z.literal('stackdriver'), ...common, logName: template('logName').default('{namespace}.{stream}'), credentialsSecret: secretName.optional() }),
  z.strictObject({ type: z.literal('cloudwatch'), ...common, region: z.string().regex(/^[a-z0-9-]{2,32}$/, 'must be a region such as eu-west-1'), logGroup: template('logGroup').default('/sidelog/{namespace}'), logStreamPrefix: template('logStreamPrefix').default('{stream}.'), autoCreateGroup: z.boolean().default(false), credentialsSecret: secretName.optional() }),
  z.strictObject({ type: z.literal('syslog'), ...common, host, port: port.default(514), protocol: z.enum(['tcp', 'udp', 'tls']).default('tcp'), tlsVerify: z.boolean().default(true), ...tlsCA, format: z.enum(['rfc5424', 'rfc3164']).default('rfc5424') }),
  z.strictObject({ type: z.literal('stdout'), ...common }),
]);

export type Output = z.output<typeof OutputSchema>;
export type OutputOf<T extends OutputType> = Extract<Output, { type: T }>;

/** The catalog fields a pod may be allowed to set through `params`, per output type. */
export const POD_SETTABLE: Readonly<Record<OutputType, readonly string[]>> = {
  forward: ['tag'],
  kafka: ['topic'],
  elasticsearch: ['index'],
  loki: ['tenant'],
  http: ['uri'],
  s3: ['prefix'],
  stackdriver: ['logName'],
  cloudwatch: ['logGroup', 'logStreamPrefix'],
  syslog: [],
  stdout: [],
};

/** Secret keys read for each output type's credentials (README "Credentials"). */
export const CREDENTIAL_KEYS: Readonly<Record<OutputType, readonly string[]>> = {
  forward: ['shared-key'],
  kafka: ['username', 'password'],
  elasticsearch: ['username', 'password'],
  loki: ['username', 'password'],
  http: ['username', 'password'],
  s3: ['aws-access-key-id', 'aws-secret-access-key'],
  stackdriver: ['key.json'],
  cloudwatch: ['aws-access-key-id', 'aws-secret-access-key'],
  syslog: [],
  stdout: [],
};

const resourceList = z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() });
const requirements = z.strictObject({ requests: resourceList.default({}), limits: resourceList.default({}) });

/**
 * sidelog's own Fluentd image (sidecar-templates/fluentd/Dockerfile): Fluentd 1.19 with the plugins
 * of all ten output types, so any mix of outputs runs in one Fluentd sidecar. Released with sidelog
 * under the same version as the webhook image (manifests/base/deployment.yaml).
 */
export const SIDELOG_FLUENTD_IMAGE = 'ghcr.io/sidelog/sidelog-fluentd:0.1.0';

/** Every default is pinned to a released version tag (test/core/images.test.ts): never :latest, :main or :edge. */
export const DEFAULT_IMAGES = {
  'fluent-bit': 'cr.fluentbit.io/fluent/fluent-bit:4.2.8',
  streaming: 'busybox:1.37.0',
  /** One image for every output type; `images.fluentd.<type>` or an output's `fluentdImage` may still pick another. */
  fluentd: { default: SIDELOG_FLUENTD_IMAGE } as Record<string, string>,
};

/** What a critical stream does when its buffer share is full (docs/pipelines.md "When the buffer is full"). */
export const BUFFER_FULL = ['block', 'drop-oldest'] as const;
export type BufferFull = (typeof BUFFER_FULL)[number];

const DefaultsSchema = z.strictObject({
  agent: z.enum(AGENTS).default('fluent-bit'),
  nativeSidecars: z.enum(['auto', 'always', 'never']).default('auto'),
  images: z
    .strictObject({
      'fluent-bit': image.default(DEFAULT_IMAGES['fluent-bit']),
      streaming: image.default(DEFAULT_IMAGES.streaming),
      /** One image for every Fluentd output, or one per output type (`default` for the core plugins). */
      fluentd: z.union([image, z.record(z.string(), image)]).default(DEFAULT_IMAGES.fluentd),
    })
    .default({ 'fluent-bit': DEFAULT_IMAGES['fluent-bit'], streaming: DEFAULT_IMAGES.streaming, fluentd: DEFAULT_IMAGES.fluentd }),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
  resources: z
    .strictObject({
      streaming: requirements.default({ requests: { cpu: '5m', memory: '16Mi' }, limits: { memory: '32Mi' } }),
      agent: requirements.default({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } }),
      /** The most a pod may ask for through `sidelog.io/resources`. */
      max: resourceList.default({ cpu: '1', memory: '1Gi' }),
    })
    .default({
      streaming: { requests: { cpu: '5m', memory: '16Mi' }, limits: { memory: '32Mi' } },
      agent: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      max: { cpu: '1', memory: '1Gi' },
    }),
  /**
   * When a critical stream's share of the buffer volume is full: `block` stops reading the file
   * (nothing is dropped; the file must outlive the outage), `drop-oldest` discards the oldest
   * buffered chunks. Unset: each agent does what it can do best, Fluentd blocks and Fluent Bit
   * (which cannot block) drops the oldest. Set to `block`, admission warns for every critical
   * Fluent Bit stream that it will drop instead.
   */
  onBufferFull: z.enum(BUFFER_FULL).optional(),
  /** emptyDir sizeLimit of the filesystem buffer of critical streams. */
  bufferSize: quantity.default('1Gi'),
  /** emptyDir sizeLimit of the agent's state volume (offset databases). */
  stateSize: quantity.default('64Mi'),
  /** emptyDir sizeLimit of new log volumes; unset means no limit. */
  logVolumeSize: quantity.optional(),
  /** Seconds the agent gets to flush on shutdown (capped by the pod's terminationGracePeriodSeconds). */
  flushSeconds: z.number().int().min(1).max(600).default(20),
  /** Numeric non-root user the sidecars run as when the pod does not set one. */
  runAsUser: z.number().int().min(1).max(2147483647).default(65532),
  /**
   * Address the agent's health/metrics server binds in the pod (the kubelet probes the pod IP).
   * `::` takes IPv6 and IPv4 (dual-stack and IPv6-only clusters); `0.0.0.0` where nodes run with
   * IPv6 disabled in the kernel, where binding `::` fails.
   */
  agentListen: z.enum(['::', '0.0.0.0']).default('::'),
});

const NamespaceRule = z.strictObject({
  outputs: z.array(z.string()).default([]),
  agents: z.array(z.enum(AGENTS)).default([...AGENTS]),
  critical: z.boolean().default(true),
});

const PolicySchema = z.strictObject({
  defaults: DefaultsSchema.default(DefaultsSchema.parse({})),
  outputs: z.record(z.string(), OutputSchema).default({}),
  namespaces: z.record(z.string(), NamespaceRule).default({}),
});

export type Policy = z.output<typeof PolicySchema>;
export type Defaults = Policy['defaults'];
export type NamespaceRules = z.output<typeof NamespaceRule>;

/** Catalog strings that may hold placeholders, per output (for the placeholder check). */
function templatedValues(o: Output): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(o)) {
    if (typeof value === 'string' && value.includes('{')) out.push([key, value]);
  }
  if (o.type === 'loki') for (const [k, v] of Object.entries(o.labels)) out.push([`labels.${k}`, v]);
  return out;
}

/**
 * `{namespace}` must stand between delimiters no namespace name contains (names contain `-`), or
 * at the start or end: then `team` can never produce `team-a`'s topic, index or prefix.
 * Templates: `. / _ : @`. Patterns (regular expressions): `\.` `/` `\/` `_` `:` `@`, `^`, `$`, and
 * a group opening with one of those (`{namespace}(\.[a-z]+)?`).
 */
export const NAMESPACE_BOUNDARY_HINT = 'put {namespace} between . / _ : @ (or at the start or end): namespace names contain -, so "team-{namespace}" or "{namespace}-x" could name another namespace\'s resource';

export function namespaceBounded(value: string, pattern: boolean): boolean {
  const token = '{namespace}';
  for (let i = value.indexOf(token); i >= 0; i = value.indexOf(token, i + token.length)) {
    const before = value.slice(0, i);
    const after = value.slice(i + token.length);
    const okBefore = pattern ? /(^|\^|\\\.|\\?\/|[_:@])$/.test(before) : /(^|[./_:@])$/.test(before);
    const okAfter = pattern ? /^($|\$|\\\.|\\?\/|[_:@]|\((\?:)?(\\\.|\\?\/|[_:@]))/.test(after) : /^($|[./_:@])/.test(after);
    if (!okBefore || !okAfter) return false;
  }
  return true;
}

/** TLS material only where the output speaks TLS. */
function tlsProblems(o: Output, at: string): Problem[] {
  const usesTls = o.type === 'syslog' ? o.protocol === 'tls' : o.type === 's3' ? !o.endpoint?.startsWith('http://') : 'tls' in o ? o.tls : false;
  const problems: Problem[] = [];
  for (const key of ['tlsCASecret', 'tlsClientSecret'] as const) {
    if (key in o && (o as Record<string, unknown>)[key] !== undefined && !usesTls) {
      problems.push({ field: `${at}.${key}`, message: o.type === 'syslog' ? 'needs protocol: tls' : o.type === 's3' ? 'needs an https endpoint' : 'needs tls: true' });
    }
  }
  return problems;
}

function crossCheck(policy: Policy): Problem[] {
  const problems: Problem[] = [];
  for (const [name, output] of Object.entries(policy.outputs)) {
    const at = fieldPath('outputs', [name]);
    if (!isDns1123Label(name)) problems.push({ field: at, message: 'output names must be DNS-1123 labels' });
    const settable = POD_SETTABLE[output.type];
    for (const [param, rule] of Object.entries(output.podParams)) {
      if (!settable.includes(param)) {
        problems.push({
          field: `${at}.podParams.${param}`,
          message: settable.length ? `pods can be allowed to set only ${settable.join(', ')} on a ${output.type} output` : `pods cannot set anything on a ${output.type} output`,
        });
      }
      if (rule.pattern !== undefined) {
        if (!namespaceBounded(rule.pattern, true)) problems.push({ field: `${at}.podParams.${param}.pattern`, message: NAMESPACE_BOUNDARY_HINT });
        // Matched against pod input with RE2: linear time, so no pattern can stall admission.
        const error = paramPatternError(rule.pattern);
        if (error !== undefined) {
          problems.push({ field: `${at}.podParams.${param}.pattern`, message: `is not a regular expression sidelog can match in linear time (RE2 syntax: no backreferences, no lookaround): ${error}` });
        }
      }
    }
    problems.push(...tlsProblems(output, at));
    for (const [key, value] of templatedValues(output)) {
      if (!TEMPLATE.test(value)) problems.push({ field: `${at}.${key}`, message: `unknown placeholder; use ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}` });
      else if (!namespaceBounded(value, false)) problems.push({ field: `${at}.${key}`, message: NAMESPACE_BOUNDARY_HINT });
    }
  }
  for (const [ns, rule] of Object.entries(policy.namespaces)) {
    const at = fieldPath('namespaces', [ns]);
    if (ns !== '*' && !isDns1123Label(ns)) problems.push({ field: at, message: 'must be a namespace name or "*"' });
    for (const [i, name] of rule.outputs.entries()) {
      if (!Object.hasOwn(policy.outputs, name)) problems.push({ field: `${at}.outputs[${i}]`, message: `unknown output "${name}" (not in outputs)` });
    }
  }
  const d = policy.defaults;
  for (const kind of ['streaming', 'agent'] as const) {
    for (const res of ['cpu', 'memory'] as const) {
      const max = d.resources.max[res];
      for (const side of ['requests', 'limits'] as const) {
        const v = d.resources[kind][side][res];
        if (v !== undefined && max !== undefined && parseQuantity(v)! > parseQuantity(max)!) {
          problems.push({ field: `defaults.resources.${kind}.${side}.${res}`, message: `${v} exceeds defaults.resources.max.${res} (${max})` });
        }
      }
      const req = d.resources[kind].requests[res];
      const lim = d.resources[kind].limits[res];
      if (req !== undefined && lim !== undefined && parseQuantity(req)! > parseQuantity(lim)!) {
        problems.push({ field: `defaults.resources.${kind}.requests.${res}`, message: `${req} exceeds the limit ${lim}` });
      }
    }
  }
  return problems;
}

/** Namespace rules naming outputs the file does not define, read from the raw document (used when zod already failed). */
function danglingRefs(doc: unknown): Problem[] {
  const d = doc as { outputs?: unknown; namespaces?: unknown } | null;
  if (!d || typeof d.namespaces !== 'object' || d.namespaces === null) return [];
  const outputs = typeof d.outputs === 'object' && d.outputs !== null ? Object.keys(d.outputs) : [];
  const problems: Problem[] = [];
  for (const [ns, rule] of Object.entries(d.namespaces)) {
    const list = (rule as { outputs?: unknown } | null)?.outputs;
    if (!Array.isArray(list)) continue;
    for (const [i, name] of list.entries()) {
      if (typeof name === 'string' && !outputs.includes(name)) {
        problems.push({ field: `${fieldPath('namespaces', [ns])}.outputs[${i}]`, message: `unknown output "${name}" (not in outputs)` });
      }
    }
  }
  return problems;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Validate a policy object. Throws InputError (every problem, named by field) when it is invalid. */
export function policyFromObject(doc: unknown, source = 'policy'): Policy {
  const parsed = PolicySchema.safeParse(doc ?? {});
  if (!parsed.success) throw new InputError(source, [...zodProblems('', parsed.error), ...danglingRefs(doc)]);
  const problems = crossCheck(parsed.data);
  if (problems.length > 0) throw new InputError(source, problems);
  return deepFreeze(parsed.data);
}

/** Parse a policy file (YAML or JSON). Throws InputError naming the file and field. */
export function parsePolicy(text: string, source = 'policy'): Policy {
  let doc: unknown;
  try {
    doc = parseYamlDocument(text, 100);
  } catch (e) {
    const line = e instanceof YamlError && e.line !== undefined ? ` at line ${e.line}` : '';
    throw new InputError(source, [{ field: '', message: `is not valid YAML${line} (${String((e as Error).message).split('\n')[0]})` }]);
  }
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
    throw new InputError(source, [{ field: '', message: 'must be a mapping with defaults, outputs and namespaces' }]);
  }
  return policyFromObject(doc, source);
}

/** Built in: stdout output for every namespace and streaming mode; what `sidelog serve` uses with no --policy. */
export const BUILTIN_POLICY: Policy = policyFromObject(
  { outputs: { stdout: { type: 'stdout' } }, namespaces: { '*': { outputs: ['stdout'] } } },
  'built-in policy',
);

/** The rules for a namespace: its own entry, else `"*"`, else nothing allowed. */
export function rulesFor(policy: Policy, namespace: string): NamespaceRules {
  const own = (key: string) => (Object.hasOwn(policy.namespaces, key) ? policy.namespaces[key] : undefined);
  return own(namespace) ?? own('*') ?? { outputs: [], agents: [...AGENTS], critical: true };
}

/** Replace `{namespace}` `{stream}` `{container}` in a catalog value. */
export function fillTemplate(value: string, facts: { namespace: string; stream: string; container: string }): string {
  return value.replace(/\{(namespace|stream|container)\}/g, (_, k: 'namespace' | 'stream' | 'container') => facts[k]);
}

/**
 * Whether a pod-set parameter value is allowed by the catalog's pattern (`{namespace}` filled in
 * as a literal first). The whole value must match, and matching runs on RE2: linear time.
 */
export function paramAllowed(value: string, rule: { pattern?: string }, namespace: string): boolean {
  if (!isParamValue(value)) return false;
  if (rule.pattern === undefined) return true;
  return paramPatternMatches(rule.pattern, namespace, value);
}

export function fluentdImageFor(defaults: Defaults, output: Output): string {
  if (output.fluentdImage) return output.fluentdImage;
  const images = defaults.images.fluentd;
  if (typeof images === 'string') return images;
  const key = output.type === 'elasticsearch' && output.distribution === 'opensearch' ? 'opensearch' : output.type;
  // The policy's map names images per output type; `default` (else sidelog's image) covers the rest.
  return images[key] ?? images.default ?? SIDELOG_FLUENTD_IMAGE;
}

export type { AgentName };
