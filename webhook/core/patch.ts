/**
 * The JSON patch, written straight from what sidelog adds. sidelog never removes or rewrites what
 * a pod has: it appends mounts to app containers, volumes to the pod, sidecars to the containers
 * (classic) or in front of the init containers (native), and sets its own annotations. So the patch
 * is a list of `add` operations (and `replace` for an annotation the pod already has), made in time
 * proportional to what is added, not to the pod: no copy of the pod, no diff, no JSON round trip.
 *
 * Values in the operations are the added objects themselves, never copies; the pod after the patch
 * shares every part it did not change with the input. Both are read-only to every caller.
 * Paths are escaped with fast-json-patch's own JSON-pointer escaping (RFC 6901: `~` as `~0`, `/` as `~1`).
 */
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Container, Pod, Volume, VolumeMount } from './pod.js';

const { escapePathComponent } = fastJsonPatch;

/** Everything sidelog adds to one pod. */
export interface Additions {
  /** Mounts appended to app containers, by index in `spec.containers`, in the order they are added. */
  readonly appMounts: ReadonlyArray<{ readonly index: number; readonly mounts: readonly VolumeMount[] }>;
  /** Volumes appended to `spec.volumes`. */
  readonly volumes: readonly Volume[];
  /** Sidecars: put in front of `spec.initContainers` when `native`, else appended to `spec.containers`. */
  readonly sidecars: readonly Container[];
  readonly native: boolean;
  /** Annotations set on the pod (added, or replacing the pod's value of the same key). */
  readonly annotations: Readonly<Record<string, string>>;
}

/** `add` each item at the end of `array` (the whole array when the pod has none). */
function appendOps(ops: Operation[], path: string, existing: readonly unknown[] | undefined, items: readonly unknown[]): void {
  if (!items.length) return;
  if (existing === undefined) {
    ops.push({ op: 'add', path, value: items });
    return;
  }
  for (let i = 0; i < items.length; i++) ops.push({ op: 'add', path: `${path}/${existing.length + i}`, value: items[i] });
}

/**
 * The patch that turns `pod` into `applyAdditions(pod, add)`. Operation order: app mounts (by
 * container), volumes, sidecars, annotations; each operation applies to the result of the ones before.
 */
export function additionsPatch(pod: Pod, add: Additions): Operation[] {
  const ops: Operation[] = [];
  const spec = pod.spec;
  for (const { index, mounts } of add.appMounts) appendOps(ops, `/spec/containers/${index}/volumeMounts`, spec.containers[index]!.volumeMounts, mounts);
  appendOps(ops, '/spec/volumes', spec.volumes, add.volumes);
  if (add.native) {
    if (spec.initContainers === undefined) {
      if (add.sidecars.length) ops.push({ op: 'add', path: '/spec/initContainers', value: add.sidecars });
    } else {
      // Inserting at 0, 1, 2… puts the sidecars in front, in their order.
      for (let i = 0; i < add.sidecars.length; i++) ops.push({ op: 'add', path: `/spec/initContainers/${i}`, value: add.sidecars[i] });
    }
  } else {
    appendOps(ops, '/spec/containers', spec.containers, add.sidecars);
  }
  const keys = Object.keys(add.annotations);
  if (keys.length) {
    const existing = pod.metadata?.annotations;
    if (pod.metadata === undefined) ops.push({ op: 'add', path: '/metadata', value: { annotations: add.annotations } });
    else if (existing === undefined) ops.push({ op: 'add', path: '/metadata/annotations', value: add.annotations });
    else {
      for (const key of keys) {
        const has = Object.prototype.hasOwnProperty.call(existing, key);
        if (has && existing[key] === add.annotations[key]) continue; // already so: nothing to write
        ops.push({ op: has ? 'replace' : 'add', path: `/metadata/annotations/${escapePathComponent(key)}`, value: add.annotations[key] });
      }
    }
  }
  return ops;
}

/**
 * The pod with the additions, sharing every unchanged part with `pod` (which is not changed): only
 * the pod, its metadata, annotations, spec, the containers that get mounts and the arrays that
 * grow are new objects.
 */
export function applyAdditions(pod: Pod, add: Additions): Pod {
  const spec = pod.spec;
  let containers = spec.containers;
  if (add.appMounts.length) {
    containers = [...containers];
    for (const { index, mounts } of add.appMounts) {
      const c = containers[index]!;
      containers[index] = { ...c, volumeMounts: [...(c.volumeMounts ?? []), ...mounts] };
    }
  }
  const out: Pod = { ...pod, spec: { ...spec } };
  if (add.appMounts.length) out.spec.containers = containers;
  if (add.volumes.length) out.spec.volumes = [...(spec.volumes ?? []), ...add.volumes];
  if (add.sidecars.length) {
    if (add.native) out.spec.initContainers = [...add.sidecars, ...(spec.initContainers ?? [])];
    else out.spec.containers = [...containers, ...add.sidecars];
  }
  if (Object.keys(add.annotations).length) {
    out.metadata = { ...pod.metadata, annotations: { ...pod.metadata?.annotations, ...add.annotations } };
  }
  return out;
}
