/**
 * A pod's shape: the pod without the fields that sidelog never reads, so that pods which differ
 * only there get the same answer from `mutate`, and can share one remembered answer.
 *
 * The pods of one workload differ at admission in exactly such fields:
 *  - a StatefulSet's pods in their name, `hostname` and `statefulset.kubernetes.io/pod-name` label;
 *  - a DaemonSet's pods in the node affinity that pins each one to its node;
 *  - a Job's or CronJob's pods in their `controller-uid` and `job-name` labels;
 *  - the pods of a Deployment's new ReplicaSet in their `pod-template-hash` label, and usually in
 *    the image or env of a container (the change being rolled out).
 * sidelog reads none of these: `mutate` reads the pod's annotations, its containers' names, mounts
 * and ports, its volumes, security context, OS, restart policy and grace period (PodSchema and the
 * planner), and checks only that a name is a string. So the shape keeps everything except:
 *  - metadata: anything but `annotations`, `namespace`, and the *kind* of `name` and `generateName`;
 *  - spec: `affinity`, `nodeName`, `hostname`, `subdomain`;
 *  - each container (app, init, ephemeral): `image`, `env`, `envFrom`.
 *
 * Whatever is left out must stay unread: test/core/pod-shape.test.ts runs `mutate` on every golden
 * and on generated pods behind a proxy that fails on any read below a left-out field, and checks
 * that changing those fields never changes an answer.
 */

/** Left out of every container. */
const UNREAD_CONTAINER = new Set(['image', 'env', 'envFrom']);
/** Left out of the spec. */
const UNREAD_SPEC = new Set(['affinity', 'nodeName', 'hostname', 'subdomain']);
/** The only metadata fields kept (`name` and `generateName` by their kind only). */
const READ_METADATA = new Set(['annotations', 'namespace', 'name', 'generateName']);
const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function without(o: Record<string, unknown>, unread: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) if (!unread.has(k)) out[k] = o[k];
  return out;
}

/** A string stands for any string: only its being a string is checked. */
const kindOf = (v: unknown): unknown => (typeof v === 'string' ? '' : v);

/**
 * The shape of a pod as a new value (the pod is not changed; its kept parts are shared, not
 * copied). Anything that is not a pod-like object is its own shape.
 */
export function podShape(pod: unknown): unknown {
  if (!isRecord(pod)) return pod;
  const out: Record<string, unknown> = { ...pod };
  const meta = pod.metadata;
  if (isRecord(meta)) {
    const m: Record<string, unknown> = {};
    for (const k of Object.keys(meta)) if (READ_METADATA.has(k)) m[k] = k === 'name' || k === 'generateName' ? kindOf(meta[k]) : meta[k];
    out.metadata = m;
  }
  const spec = pod.spec;
  if (isRecord(spec)) {
    const s = without(spec, UNREAD_SPEC);
    for (const list of CONTAINER_LISTS) {
      const items = s[list];
      if (Array.isArray(items)) s[list] = items.map((c) => (isRecord(c) ? without(c, UNREAD_CONTAINER) : c));
    }
    out.spec = s;
  }
  return out;
}
