/**
 * The sidecar model, at the bottom with the rest of the pure model: what the injection hands the
 * sidecar renderers, and what they give back. Renderers are pure:
 * (streams, policy defaults, pod facts) -> config text, env, extra volumes. The core owns the
 * container shell (security context, resources, log/state/buffer mounts); a renderer owns what
 * is specific to its agent.
 */
import type { ParserName } from './annotations.js';
import type { Defaults, Output } from './policy.js';
import type { EnvVar, Volume, VolumeMount } from './pod.js';

/** Fixed paths inside every sidecar. None of them comes from a pod. */
export const PATHS = {
  /** Log volumes, each at `${logs}/<volume name>`. */
  logs: '/sidelog/logs',
  /** Generated config files (downwardAPI volume of the config annotations). */
  config: '/sidelog/config',
  /** Offset databases / pos files; an emptyDir that outlives container restarts. */
  state: '/sidelog/state',
  /** Filesystem buffers of critical streams (and S3 staging); an emptyDir with a size limit. */
  buffer: '/sidelog/buffer',
  /** Secret files an output needs as a file (Google credentials). */
  credentials: '/sidelog/credentials',
  /** TLS material per output: `${tls}/<output>/ca.crt`, `tls.crt`, `tls.key`. */
  tls: '/sidelog/tls',
} as const;

/** Who a sidecar runs as: the writing container's user (and group, when one is set), see identity.ts. */
export interface Identity {
  readonly runAsUser: number;
  readonly runAsGroup?: number | undefined;
}

export const VOLUMES = {
  config: 'sidelog-config',
  state: 'sidelog-state',
  buffer: 'sidelog-buffer',
} as const;

/** Downward-API env vars every agent sidecar carries, for enrichment. */
export const FACT_ENV = {
  pod: 'SIDELOG_POD_NAME',
  namespace: 'SIDELOG_NAMESPACE',
  node: 'SIDELOG_NODE_NAME',
} as const;

/** A stream after validation against the pod and the policy: every value is final and safe. */
export interface AgentStream {
  readonly index: number;
  /** DNS-1123 label, unique in the pod. Also the tag suffix and the buffer/db file name. */
  readonly name: string;
  /** The container that writes the file. */
  readonly container: string;
  /** The path as the app container sees it (what the pod asked for). */
  readonly appPath: string;
  /** The same file as the sidecar sees it (`/sidelog/logs/<volume>/...`). May end in a glob. */
  readonly sidecarPath: string;
  readonly parser: ParserName;
  /** Only for parser `regex`; validated (no control characters, `${`, `#{`). */
  readonly regex?: string;
  readonly critical: boolean;
  /** Name of the catalog entry (for env var names and metrics). */
  readonly outputName: string;
  /** The catalog entry with placeholders filled in and allowed pod params applied. */
  readonly output: Output;
}

export interface StreamingStream {
  readonly index: number;
  readonly name: string;
  readonly container: string;
  readonly appPath: string;
  readonly sidecarPath: string;
}

export interface AgentRenderInput {
  readonly streams: readonly AgentStream[];
  readonly defaults: Defaults;
  /** Seconds the agent may spend flushing after SIGTERM (already fitted to the pod's grace period). */
  readonly flushSeconds: number;
  readonly namespace: string;
  /** The agent container's memory limit (a quantity), the input of the memory budget (budget.ts). */
  readonly memoryLimit?: string | undefined;
  /** The pod's network: ports its containers declare (the sidecar shares them), and hostNetwork. */
  readonly network?: PodNetwork | undefined;
}

/** The ports the agents prefer; each moves up at most PORT_SEARCH ports past ones the pod declares. */
export const AGENT_PORTS = { fluentBitHttp: 2020, fluentdMonitor: 24220, fluentdMetrics: 24231 } as const;
export const PORT_SEARCH = 64;

/** Whether a port lies where an agent could pick it: only those ports matter (and a pod may declare thousands). */
export function inAgentPortRange(port: number): boolean {
  return Object.values(AGENT_PORTS).some((p) => port >= p && port < p + PORT_SEARCH + 2);
}

export interface PodNetwork {
  /** containerPorts the pod's containers declare in the agents' port ranges (sorted, unique): the agent picks other ports. */
  readonly usedPorts: readonly number[];
  /** With hostNetwork every port is the node's: the agent opens none (no health server, no metrics). */
  readonly hostNetwork: boolean;
}

/** What an agent renderer returns; the core puts it into the sidecar container and the pod. */
export interface AgentRender {
  readonly image: string;
  readonly command: string[];
  readonly args: string[];
  /** Config files by file name; each is delivered through its own annotation. */
  readonly files: ReadonlyArray<{ readonly file: string; readonly annotation: string; readonly text: string }>;
  /** Env beyond the FACT_ENV vars (credentials from Secrets). */
  readonly env: EnvVar[];
  readonly volumes: Volume[];
  readonly mounts: VolumeMount[];
  /** Whether the buffer volume is needed (critical streams, S3 staging). */
  readonly needsBuffer: boolean;
  /**
   * Problems the pod author can fix (e.g. outputs needing different Fluentd images). `stream` is
   * the index of the one stream a problem is about: the core drops that stream alone and renders
   * again; a problem without it stops the whole agent.
   */
  readonly problems: ReadonlyArray<{ readonly field: string; readonly message: string; readonly stream?: number }>;
  /** What admission should tell the user although the sidecar is injected (weaker guarantees, small budgets). */
  readonly warnings: readonly string[];
  /** Liveness probe of the agent container (docs/pipelines.md "Agent health"); none with hostNetwork. */
  readonly livenessProbe?: Record<string, unknown>;
  /** Container ports the agent listens on beyond loopback (metrics), for Prometheus. */
  readonly ports: ReadonlyArray<{ readonly name: string; readonly containerPort: number; readonly protocol: 'TCP' }>;
  /** HTTP path of the Prometheus metrics on the `sidelog-metrics` port, when there is one. */
  readonly metricsPath?: string;
}
