/**
 * Pieces every sidecar shares: the restricted security context, the downward-API env vars, and
 * Secret-backed credentials (env vars, or a file volume for the one output that needs a file).
 */
import { toDnsLabel, toEnvFragment } from '../webhook/core/names.js';
import { CREDENTIAL_KEYS, type Output } from '../webhook/core/policy.js';
import type { EnvVar, SecurityContext, Volume, VolumeMount } from '../webhook/core/pod.js';
import { FACT_ENV, PATHS } from './types.js';

/** Who a sidecar runs as: the writing container's user (and group, when one is set), see webhook/core/identity.ts. */
export interface Identity {
  readonly runAsUser: number;
  readonly runAsGroup?: number | undefined;
}

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

/** The first of `preferred`, `preferred + 1`, ... that no container of the pod declares (the sidecar shares the pod's ports). */
export function freePort(preferred: number, used: readonly number[]): number {
  let port = preferred;
  while (used.includes(port)) port++;
  return port;
}

/** What admission says when the pod runs on the node's network. */
export const HOST_NETWORK_WARNING = 'the pod uses hostNetwork: the log agent opens no health or metrics port (it would be the node\'s, shared with every such pod) and gets no liveness probe';

/** Deduplicate env vars and volumes by name (two streams sharing one output share its credentials). */
export function uniqueByName<T extends { name: string }>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => (seen.has(item.name) ? false : (seen.add(item.name), true)));
}

/** Refuse, loudly, any value that could break out of a config line. Renderers call this on every value. */
export function assertConfigSafe(value: string, what: string): string {
  if (/[\u0000-\u001f\u007f\u2028\u2029]/.test(value)) throw new Error(`refusing to render ${what}: control character`);
  if (value !== value.trim() || value === '') throw new Error(`refusing to render ${what}: empty or padded with white space`);
  return value;
}
