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
import { ByteLru, MAX_HASHED_STRING } from './memo.js';
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

/** Strings at least this long have their JSON remembered (the agent config files, the parsers). */
const REMEMBERED_STRING = 256;
/** The JSON text of long strings the patches carry, bounded by bytes. */
const stringJson = new ByteLru<string>(1024 * 1024);

function stringText(s: string): string {
  if (s.length < REMEMBERED_STRING || s.length > MAX_HASHED_STRING) return JSON.stringify(s);
  let text = stringJson.get(s);
  if (text === undefined) stringJson.set(s, (text = JSON.stringify(s)), 2 * text.length);
  return text;
}

/** JSON of a value; strings, and a plain object's string values, through `stringText`. */
function valueText(v: unknown): string {
  if (typeof v === 'string') return stringText(v);
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) return JSON.stringify(v);
  let out = '';
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue; // as JSON.stringify
    out += `${out ? ',' : '{'}${JSON.stringify(k)}:${typeof x === 'string' ? stringText(x) : JSON.stringify(x)}`;
  }
  return out ? `${out}}` : '{}';
}

/**
 * The patch as JSON text, exactly `JSON.stringify(ops)`, faster for the patches sidelog writes:
 * the annotations hold the agent's config files (kilobytes of text with a newline on every line,
 * the slowest thing JSON.stringify writes), and they are the same strings for every pod of a
 * workload (the render memo's), so their JSON is remembered (1 MiB of it at most).
 */
export function patchText(ops: readonly Operation[]): string {
  let out = '[';
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (i) out += ',';
    const keys = Object.keys(op);
    if (keys.length === 3 && keys[0] === 'op' && keys[1] === 'path' && keys[2] === 'value' && 'value' in op && op.value !== undefined) out += `{"op":${JSON.stringify(op.op)},"path":${JSON.stringify(op.path)},"value":${valueText(op.value)}}`;
    else out += JSON.stringify(op);
  }
  return `${out}]`;
}
