/**
 * `sidelog.io/status`: what sidelog injected. Only sidelog's own status skips injection (so that
 * a re-invoked webhook or a replayed pod is a no-op); anyone can write the annotation, so it is
 * believed only when the pod really carries what it claims. See docs/admission-safety.md.
 */
import { z } from 'zod';
import { AGENT_CONFIG, AGENTS } from './annotations.js';
import { AGENT_CONTAINER, isDns1123Label, streamingSidecarName } from './names.js';
import { VOLUMES } from './sidecar-model.js';

const StatusSchema = z.looseObject({
  version: z.literal(1),
  agent: z.enum(AGENTS).optional(),
  native: z.boolean(),
  streams: z
    .array(z.looseObject({ name: z.string().refine(isDns1123Label), mode: z.enum(['streaming', 'agent']), container: z.string() }))
    .min(1),
});

export type StatusVerdict =
  /** No status annotation. */
  | { readonly kind: 'absent' }
  /** sidelog's own: well-formed, and every sidecar, volume and config annotation it claims is in the pod. */
  | { readonly kind: 'own' }
  /** Not a status sidelog writes (not JSON, wrong shape, no streams): ignored. */
  | { readonly kind: 'malformed'; readonly reason: string }
  /** Well-formed, but claims sidecars (or their volumes) the pod does not have. */
  | { readonly kind: 'inconsistent'; readonly missing: readonly string[] };

type Named = { name?: unknown };
const namesOf = (list: unknown): Set<string> =>
  new Set((Array.isArray(list) ? (list as Named[]) : []).map((x) => (x !== null && typeof x === 'object' ? x.name : undefined)).filter((n): n is string => typeof n === 'string'));

/** What sidelog would have added for this status: container names, volume names, annotations. */
export function claimsOf(status: z.output<typeof StatusSchema>): { containers: string[]; volumes: string[]; annotations: string[] } {
  const agentModeStreams = status.streams.filter((s) => s.mode === 'agent').length;
  const withAgent = status.agent !== undefined && agentModeStreams > 0;
  return {
    containers: [...status.streams.filter((s) => s.mode === 'streaming').map((s) => streamingSidecarName(s.name)), ...(withAgent ? [AGENT_CONTAINER] : [])],
    volumes: withAgent ? [VOLUMES.config, VOLUMES.state] : [],
    annotations: withAgent ? [AGENT_CONFIG] : [],
  };
}

/**
 * The longest status read. sidelog writes at most 32 streams of a few hundred characters each
 * (well under 32 KiB); a longer value cannot be its record, and is refused before JSON.parse so a
 * megabytes-long annotation costs nothing (it is read twice per review: skip filter and mutate).
 */
export const STATUS_MAX_CHARS = 64 * 1024;

/**
 * Read the status of a pod as it arrived. `pod` is the raw object (not yet validated): anything
 * missing or of the wrong type simply counts as absent.
 */
export function readStatus(value: unknown, pod: unknown): StatusVerdict {
  if (value === undefined) return { kind: 'absent' };
  if (typeof value !== 'string') return { kind: 'malformed', reason: 'is not a string' };
  if (value.length > STATUS_MAX_CHARS) return { kind: 'malformed', reason: `is ${value.length} characters long, more than the ${STATUS_MAX_CHARS} of any status sidelog writes` };
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    return { kind: 'malformed', reason: 'is not JSON' };
  }
  const parsed = StatusSchema.safeParse(doc);
  if (!parsed.success) return { kind: 'malformed', reason: 'is not a status sidelog writes' };
  const p = (pod !== null && typeof pod === 'object' ? pod : {}) as { metadata?: { annotations?: unknown }; spec?: Record<string, unknown> };
  const spec = p.spec !== null && typeof p.spec === 'object' ? p.spec : {};
  const containers = new Set([...namesOf(spec.containers), ...namesOf(spec.initContainers)]);
  const volumes = namesOf(spec.volumes);
  const annotations = p.metadata?.annotations !== null && typeof p.metadata?.annotations === 'object' ? (p.metadata.annotations as Record<string, unknown>) : {};
  const claims = claimsOf(parsed.data);
  const missing = [
    ...claims.containers.filter((c) => !containers.has(c)).map((c) => `container ${c}`),
    ...claims.volumes.filter((v) => !volumes.has(v)).map((v) => `volume ${v}`),
    ...claims.annotations.filter((a) => typeof annotations[a] !== 'string').map((a) => `annotation ${a}`),
  ];
  return missing.length ? { kind: 'inconsistent', missing } : { kind: 'own' };
}
