/**
 * A pod's shape: the pod without the fields that sidelog never reads, so that pods which differ
 * only there get the same answer from `mutate`, and can share one remembered answer.
 *
 * The pods of one workload often differ at admission in exactly such fields:
 *  - a StatefulSet's pods in their name, `hostname`, `statefulset.kubernetes.io/pod-name` label
 *    and, with volume claim templates, the `claimName` of each claim's volume;
 *  - a DaemonSet's pods in the node affinity that pins each one to its node;
 *  - a CronJob's Jobs' pods in their `controller-uid` and `job-name` labels (an Indexed Job's pods
 *    differ in their completion-index annotation: another shape each);
 *  - the pods of a Deployment's new ReplicaSet in their `pod-template-hash` label, and usually in
 *    the image or env of a container (the change being rolled out).
 * sidelog reads none of these: `mutate` reads the pod's annotations, its containers' names, mounts
 * and ports, its volumes' names and kinds, security context, OS, restart policy and grace period
 * (PodSchema and the planner), and checks only that a name is a string. So the shape keeps
 * everything except:
 *  - metadata: anything but `annotations`, `namespace`, and the *kind* of `name` and `generateName`;
 *  - spec: `affinity`, `nodeName`, `hostname`, `subdomain`;
 *  - each container (app, init, ephemeral): `image`, `env`, `envFrom`;
 *  - each volume's `persistentVolumeClaim.claimName`.
 *
 * Whatever is left out must stay unread: test/core/pod-shape.test.ts runs `mutate` on every golden
 * and on generated pods behind a proxy that fails on any read of a left-out field, and checks that
 * changing those fields (to other values, and to values of the wrong type) never changes an answer.
 *
 * The shape is compared as JSON text (`shapeText`). Two things JSON text would blur are kept apart:
 * a key `__proto__` (an ordinary own field of a parsed request: every object here is built without
 * a prototype, so it is copied as a field and never read through), and numbers JSON cannot write
 * (`1e400` parses to Infinity, which `JSON.stringify` writes as `null`).
 */

import { type Obj, isObject } from './pod.js';

/** Left out of every container. */
export const UNREAD_CONTAINER_FIELDS: ReadonlySet<string> = new Set(['image', 'env', 'envFrom']);
/** Left out of the spec. */
export const UNREAD_SPEC_FIELDS: ReadonlySet<string> = new Set(['affinity', 'nodeName', 'hostname', 'subdomain']);
/** The only metadata fields kept (`name` and `generateName` by their kind only). */
export const READ_METADATA_FIELDS: ReadonlySet<string> = new Set(['annotations', 'namespace', 'name', 'generateName']);
export const CONTAINER_LISTS: readonly string[] = ['containers', 'initContainers', 'ephemeralContainers'];
/** Left out of a volume's `persistentVolumeClaim`. */
export const UNREAD_CLAIM_FIELDS: ReadonlySet<string> = new Set(['claimName']);

const own = (o: Obj, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);

/** A copy of `o`'s own fields but those in `unread`, with no prototype (a `__proto__` key is a field). */
function without(o: Obj, unread: ReadonlySet<string>): Obj {
  const out = Object.create(null) as Obj;
  for (const k of Object.keys(o)) if (!unread.has(k)) out[k] = o[k];
  return out;
}

const NOTHING: ReadonlySet<string> = new Set();

/** A string stands for any string: only its being a string is checked. */
const kindOf = (v: unknown): unknown => (typeof v === 'string' ? '' : v);

/**
 * The shape of a pod as a new value (the pod is not changed; its kept parts are shared, not
 * copied). Anything that is not a pod-like object is its own shape.
 */
export function podShape(pod: unknown): unknown {
  if (!isObject(pod)) return pod;
  const out = without(pod, NOTHING);
  const meta = own(pod, 'metadata');
  if (isObject(meta)) {
    const m = Object.create(null) as Obj;
    for (const k of Object.keys(meta)) if (READ_METADATA_FIELDS.has(k)) m[k] = k === 'name' || k === 'generateName' ? kindOf(meta[k]) : meta[k];
    out.metadata = m;
  }
  const spec = own(pod, 'spec');
  if (isObject(spec)) {
    const s = without(spec, UNREAD_SPEC_FIELDS);
    for (const list of CONTAINER_LISTS) {
      const items = s[list];
      if (Array.isArray(items)) s[list] = items.map((c) => (isObject(c) ? without(c, UNREAD_CONTAINER_FIELDS) : c));
    }
    const volumes = s.volumes;
    if (Array.isArray(volumes)) s.volumes = volumes.map(volumeShape);
    out.spec = s;
  }
  return out;
}

/** A volume without its claim's name (a StatefulSet's pods each have their own claim). */
function volumeShape(v: unknown): unknown {
  if (!isObject(v)) return v;
  const claim = own(v, 'persistentVolumeClaim');
  if (!isObject(claim)) return v;
  const out = without(v, NOTHING);
  out.persistentVolumeClaim = without(claim, UNREAD_CLAIM_FIELDS);
  return out;
}

/**
 * Numbers JSON cannot write as strings of their own: `Infinity` as "\0nInfinity". So that no string
 * of the pod can pass for one, a string that starts with "\0" gets one more in front.
 */
function numbers(_key: string, value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : `\u0000n${value}`;
  if (typeof value === 'string' && value.charCodeAt(0) === 0) return `\u0000${value}`;
  return value;
}

/** The shape as text: equal texts, equal answers. */
export function shapeText(value: unknown): string {
  return JSON.stringify(value, numbers) ?? 'undefined';
}
