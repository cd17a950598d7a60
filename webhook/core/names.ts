/** Kubernetes name and value rules that sidelog checks before it writes anything. */

/** The agent sidecar's container name. No stream may take it (see {@link streamingSidecarName}). */
export const AGENT_CONTAINER = 'sidelog-agent';
/** The stream name that would give a streaming sidecar the agent's container name. */
export const RESERVED_STREAM_NAMES: ReadonlySet<string> = new Set(['agent']);

/** The container name of a streaming stream's sidecar. */
export function streamingSidecarName(stream: string): string {
  return `sidelog-${stream}`;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isEnvName(s: string): boolean {
  return ENV_NAME.test(s);
}

/**
 * Turn anything into a DNS-1123 label fragment (lower case, `-` for runs of other characters,
 * trimmed), at most `max` characters. May return '' when nothing usable is left.
 */
export function toDnsLabel(s: string, max = 63): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, max)
    .replace(/^-+|-+$/g, '');
}

/** Upper-case env-var fragment: `kafka-logs` -> `KAFKA_LOGS`. */
export function toEnvFragment(s: string): string {
  return s.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '');
}
