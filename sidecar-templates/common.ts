/**
 * Pieces every sidecar shares: the restricted security context, the downward-API env vars, and
 * Secret-backed credentials (env vars, or a file volume for the one output that needs a file).
 */
import { toDnsLabel, toEnvFragment } from '../webhook/core/names.js';
import { CREDENTIAL_KEYS, type Output } from '../webhook/core/policy.js';
import type { EnvVar, SecurityContext, Volume, VolumeMount } from '../webhook/core/pod.js';
import { FACT_ENV, type Identity, PATHS, PORT_SEARCH } from './types.js';

export type { Identity };

/**
 * Non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp: passes
 * `restricted`. The group is set only when the writing container (or the pod) sets one: the
 * pod's fsGroup and supplementalGroups apply to the sidecar as to every container.
 */
export function restrictedSecurityContext(identity: Identity): SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: identity.runAsUser,
    ...(identity.runAsGroup !== undefined ? { runAsGroup: identity.runAsGroup } : {}),
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Pod name, namespace and node from the downward API: no API calls from the sidecar. */
export function factEnv(): EnvVar[] {
  return [
    { name: FACT_ENV.pod, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: FACT_ENV.namespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: FACT_ENV.node, valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
  ];
}

/** `SIDELOG_<OUTPUT>_<KEY>`: the env var that carries one credential of one catalog output. */
export function credentialEnvName(outputName: string, key: string): string {
  return `SIDELOG_${toEnvFragment(outputName)}_${toEnvFragment(key)}`;
}

export interface Credentials {
  /** Secret key -> env var name holding it (env-var credentials). */
  readonly vars: Readonly<Record<string, string>>;
  /** Path of the credentials file inside the sidecar (file credentials: Google key.json). */
  readonly file?: string;
  readonly env: EnvVar[];
  readonly volumes: Volume[];
  readonly mounts: VolumeMount[];
}

/**
 * The credentials of one output: every key the output type reads from its `credentialsSecret`
 * becomes an env var from a secretKeyRef; Google's key file is mounted from the Secret instead.
 */
export function credentialsFor(outputName: string, output: Output): Credentials {
  const secret = 'credentialsSecret' in output ? output.credentialsSecret : undefined;
  if (secret === undefined) return { vars: {}, env: [], volumes: [], mounts: [] };
  if (output.type === 'stackdriver') {
    const volume = `sidelog-cred-${toDnsLabel(outputName, 50)}`;
    const dir = `${PATHS.credentials}/${toDnsLabel(outputName, 50)}`;
    const file = `${dir}/key.json`;
    return {
      vars: {},
      file,
      env: [{ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: file }],
      volumes: [{ name: volume, secret: { secretName: secret, items: [{ key: 'key.json', path: 'key.json' }], defaultMode: 0o444 } }],
      mounts: [{ name: volume, mountPath: dir, readOnly: true }],
    };
  }
  const vars: Record<string, string> = {};
  const env: EnvVar[] = [];
  for (const key of CREDENTIAL_KEYS[output.type]) {
    // AWS SDKs inside both agents read these exact names from the environment.
    const name = AWS_ENV[key] ?? credentialEnvName(outputName, key);
    vars[key] = name;
    env.push({ name, valueFrom: { secretKeyRef: { name: secret, key } } });
  }
  return { vars, env, volumes: [], mounts: [] };
}

const AWS_ENV: Readonly<Record<string, string>> = {
  'aws-access-key-id': 'AWS_ACCESS_KEY_ID',
  'aws-secret-access-key': 'AWS_SECRET_ACCESS_KEY',
};

export interface TlsFiles {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly volumes: Volume[];
  readonly mounts: VolumeMount[];
}

/**
 * An output's TLS material as files: the CA bundle (`ca.crt` of tlsCASecret) and the client
 * certificate (`tls.crt`, `tls.key` of tlsClientSecret), projected into one read-only volume at
 * `/sidelog/tls/<output>/`.
 */
export function tlsFor(outputName: string, output: Output): TlsFiles {
  const caSecret = 'tlsCASecret' in output ? output.tlsCASecret : undefined;
  const clientSecret = 'tlsClientSecret' in output ? output.tlsClientSecret : undefined;
  if (caSecret === undefined && clientSecret === undefined) return { volumes: [], mounts: [] };
  const label = toDnsLabel(outputName, 50);
  const dir = `${PATHS.tls}/${label}`;
  const volume = `sidelog-tls-${label}`;
  const sources: Array<Record<string, unknown>> = [];
  if (caSecret !== undefined) sources.push({ secret: { name: caSecret, items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
  if (clientSecret !== undefined) sources.push({ secret: { name: clientSecret, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] } });
  return {
    ...(caSecret !== undefined ? { ca: `${dir}/ca.crt` } : {}),
    ...(clientSecret !== undefined ? { cert: `${dir}/tls.crt`, key: `${dir}/tls.key` } : {}),
    volumes: [{ name: volume, projected: { sources, defaultMode: 0o444 } }],
    mounts: [{ name: volume, mountPath: dir, readOnly: true }],
  };
}

/**
 * All credentials of a pod's agent streams together. Two outputs whose credentials must use the
 * same env var name (AWS) but come from different Secrets cannot share one sidecar: a problem.
 */
export function mergeCredentials(streams: ReadonlyArray<{ readonly index: number; readonly outputName: string; readonly output: Output }>): {
  env: EnvVar[];
  volumes: Volume[];
  mounts: VolumeMount[];
  problems: Array<{ field: string; message: string; stream: number }>;
} {
  const env = new Map<string, EnvVar>();
  const problems: Array<{ field: string; message: string; stream: number }> = [];
  const volumes: Volume[] = [];
  const mounts: VolumeMount[] = [];
  for (const s of streams) {
    const c = credentialsFor(s.outputName, s.output);
    const clashes = c.env.filter((e) => env.has(e.name) && JSON.stringify(env.get(e.name)) !== JSON.stringify(e)).map((e) => e.name);
    if (clashes.length) {
      const names = clashes.join(' and ');
      problems.push({ field: `sidelog.io/streams[${s.index}].output`, stream: s.index, message: `"${s.outputName}" needs ${names} from another Secret than an earlier stream's output; one sidecar has one ${names}; this stream is not injected` });
    }
    for (const e of c.env) if (!env.has(e.name)) env.set(e.name, e);
    const t = tlsFor(s.outputName, s.output);
    for (const v of [...c.volumes, ...t.volumes]) {
      // Volume names are cut from output names: two long names can meet on one volume.
      const seen = volumes.find((x) => x.name === v.name);
      if (seen && JSON.stringify(seen) !== JSON.stringify(v)) {
        problems.push({ field: `sidelog.io/streams[${s.index}].output`, stream: s.index, message: `"${s.outputName}" needs its credentials in volume ${v.name}, which another output's credentials already use; this stream is not injected` });
      }
    }
    volumes.push(...c.volumes, ...t.volumes);
    mounts.push(...c.mounts, ...t.mounts);
  }
  return { env: [...env.values()], volumes: uniqueByName(volumes), mounts: uniqueByName(mounts), problems };
}

/**
 * The first of `preferred`, `preferred + 1`, ... that no container of the pod declares (the sidecar
 * shares the pod's ports), looking at most PORT_SEARCH ports up; a pod that takes them all gets no agent.
 */
export function freePort(preferred: number, used: readonly number[]): number {
  const taken = new Set(used);
  for (let port = preferred; port < preferred + PORT_SEARCH; port++) if (!taken.has(port)) return port;
  throw new Error(`the pod declares every port from ${preferred} to ${preferred + PORT_SEARCH - 1}; the agent needs one of them`);
}

/** What admission says when the pod runs on the node's network. */
export const HOST_NETWORK_WARNING = 'the pod uses hostNetwork: the log agent opens no health or metrics port (it would be the node\'s, shared with every such pod) and gets no liveness probe';

/** Deduplicate env vars and volumes by name (two streams sharing one output share its credentials). */
export function uniqueByName<T extends { name: string }>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => (seen.has(item.name) ? false : (seen.add(item.name), true)));
}

/** Flags of {@link scanConfigValue}: what one pass over a value found. */
export const VALUE = {
  /** A C0 control character, DEL, U+2028 or U+2029: could end the line. */
  control: 1,
  /** Empty, or white space (as String.prototype.trim sees it) at either end. */
  padded: 2,
  /** A comma (a list separator for some keys). */
  comma: 4,
  /** `${` anywhere. */
  dollarBrace: 8,
  /** `${` left after removing every `${SIDELOG_[A-Z0-9_]+}` (Fluent Bit expands `${NAME}` in every value). */
  strayEnvRef: 16,
  /** A `'` or a backslash. */
  quoteOrBackslash: 32,
  /** Not a bare token `[A-Za-z0-9_./:@%+=,-][A-Za-z0-9_./:@%+=,*?[\]-]*` (Fluentd's unquoted form). */
  notBare: 64,
} as const;

/** White space as String.prototype.trim removes it (ECMAScript WhiteSpace and LineTerminator). */
function isTrimSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** [A-Za-z0-9_./:@%+=,-] */
function isBareChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x2c && c <= 0x3a) || c === 0x5f || c === 0x40 || c === 0x25 || c === 0x2b || c === 0x3d;
}

/** Length of a `${SIDELOG_[A-Z0-9_]+}` reference starting at `i` (at its `$`), or 0 when none starts there. */
function sidelogRefAt(value: string, i: number): number {
  if (!value.startsWith('SIDELOG_', i + 2)) return 0;
  let j = i + 10;
  const start = j;
  for (; j < value.length; j++) {
    const c = value.charCodeAt(j);
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f)) break;
  }
  return j > start && value.charCodeAt(j) === 0x7d ? j + 1 - i : 0;
}

/**
 * Everything the serializers check about a value, in one pass over its characters (the checks were
 * a regular expression each; test/config-safety.test.ts holds them as the oracle).
 */
export function scanConfigValue(value: string): number {
  const n = value.length;
  if (n === 0) return VALUE.padded | VALUE.notBare;
  let flags = isTrimSpace(value.charCodeAt(0)) || isTrimSpace(value.charCodeAt(n - 1)) ? VALUE.padded : 0;
  const first = value.charCodeAt(0);
  if (!isBareChar(first)) flags |= VALUE.notBare;
  /** Last character of the value with the SIDELOG references taken out. */
  let residual = -1;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    // Letters and digits, most of any value, raise no flag.
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)) {
      residual = c;
      continue;
    }
    if (c < 0x20 || c === 0x7f || c === 0x2028 || c === 0x2029) flags |= VALUE.control;
    else if (c === 0x2c) flags |= VALUE.comma;
    else if (c === 0x27 || c === 0x5c) flags |= VALUE.quoteOrBackslash;
    if (i > 0 && !isBareChar(c) && c !== 0x2a && c !== 0x3f && c !== 0x5b && c !== 0x5d) flags |= VALUE.notBare;
    if (c === 0x24 && value.charCodeAt(i + 1) === 0x7b) {
      flags |= VALUE.dollarBrace;
      const ref = sidelogRefAt(value, i);
      if (ref) {
        // Characters inside a reference are [A-Z0-9_{}$]: none of the flags above but notBare.
        flags |= VALUE.notBare;
        i += ref - 1;
        continue;
      }
    }
    if (c === 0x7b && residual === 0x24) flags |= VALUE.strayEnvRef;
    residual = c;
  }
  return flags;
}

/** Why a value cannot be written at all, from its scan; undefined when it can. */
export function unsafeReason(flags: number): string | undefined {
  if (flags & VALUE.control) return 'control character';
  if (flags & VALUE.padded) return 'empty or padded with white space';
  return undefined;
}

/** Refuse, loudly, any value that could break out of a config line. Renderers call this on every value. */
export function assertConfigSafe(value: string, what: string): string {
  const reason = unsafeReason(scanConfigValue(value));
  if (reason !== undefined) throw new Error(`refusing to render ${what}: ${reason}`);
  return value;
}

/** Whether `s` is `first` followed by any number of `rest` (a regular expression's `^[first][rest]*$`, by hand). */
export function isToken(s: string, first: (c: number) => boolean, rest: (c: number) => boolean): boolean {
  if (s.length === 0 || !first(s.charCodeAt(0))) return false;
  for (let i = 1; i < s.length; i++) if (!rest(s.charCodeAt(i))) return false;
  return true;
}
