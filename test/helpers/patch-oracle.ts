/**
 * The oracle for the patch sidelog writes directly (webhook/core/patch.ts): the way it was made
 * before, a deep copy of the pod changed in place and `fast-json-patch` `compare` between the two.
 * Kept here, in the tests only, so every golden case and every generated pod checks that
 *  - the direct patch applied to the pod gives exactly the deep-copy result,
 *  - the diff of the deep-copy result applied to the pod gives the same document (the two patches
 *    mean the same), and the structurally shared `mutated` equals it too,
 *  - the direct patch only adds (or replaces one of sidelog's annotations) and the input is untouched.
 */
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { MutateResult } from '../../webhook/inject/mutate.js';
import type { Additions } from '../../webhook/core/patch.js';
import type { Pod } from '../../webhook/core/pod.js';

/** The old build: a deep copy of the pod, changed in place. */
export function deepCopyMutated(pod: Pod, add: Additions): Pod {
  const out = structuredClone(pod);
  const spec = out.spec;
  for (const { index, mounts } of add.appMounts) {
    const c = spec.containers[index]!;
    c.volumeMounts = [...(c.volumeMounts ?? []), ...structuredClone(mounts)];
  }
  if (add.volumes.length) spec.volumes = [...(spec.volumes ?? []), ...structuredClone(add.volumes)];
  const sidecars = structuredClone(add.sidecars);
  if (add.sidecars.length) {
    if (add.native) spec.initContainers = [...sidecars, ...(spec.initContainers ?? [])];
    else spec.containers = [...spec.containers, ...sidecars];
  }
  if (Object.keys(add.annotations).length) {
    out.metadata ??= {};
    out.metadata.annotations ??= {};
    Object.assign(out.metadata.annotations, add.annotations);
  }
  return out;
}

const apply = (doc: unknown, patch: readonly Operation[]) => fastJsonPatch.applyPatch(structuredClone(doc), structuredClone(patch as Operation[]), true, false).newDocument;

/** Where sidelog may write: containers, init containers, volumes, mounts of app containers, annotations. */
const ALLOWED = /^\/(spec\/(containers\/\d+\/volumeMounts(\/\d+)?|containers(\/\d+)?|initContainers(\/\d+)?|volumes(\/\d+)?)|metadata(\/annotations(\/[^/]+)?)?)$/;

/** JSON with every object's keys sorted: equal for documents that differ only in key order. */
function sortedJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

/** The first JSON pointer where the JSON of a and b differs (objects from any realm). */
function firstDifference(a: unknown, b: unknown, path = ''): string {
  const json = (v: unknown) => JSON.stringify(v) ?? 'nothing';
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
      if (json(x[k]) !== json(y[k])) return firstDifference(x[k], y[k], `${path}/${k}`);
    }
    if (json(Object.keys(x)) !== json(Object.keys(y))) return `${path || '/'} (keys in another order: ${json(Object.keys(x))} vs ${json(Object.keys(y))})`;
  }
  return `${path || '/'} (${json(a).slice(0, 80)} vs ${json(b).slice(0, 80)})`;
}

/**
 * Problems of one mutate result against the oracle; empty when it holds. `original` is a deep copy
 * of the input taken before mutate ran, `input` the object mutate was given.
 */
export function patchOracleProblems(original: Pod, input: unknown, result: MutateResult): string[] {
  const problems: string[] = [];
  // Same JSON, key order included (what the API server and the goldens see).
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(input, original)) problems.push('mutate changed its input');
  if (!result.patch.length) return problems;
  const add = result.additions;
  if (!add) return [...problems, 'a patch without additions'];
  const oracle = deepCopyMutated(original, add);
  const direct = apply(original, result.patch);
  const diffed = apply(original, fastJsonPatch.compare(original, oracle));
  if (!same(direct, oracle)) problems.push(`the direct patch applied to the pod differs from the deep-copy result at ${firstDifference(direct, oracle)}`);
  // compare() rewrites shifted array elements key by key, so its document may list keys in another order.
  if (sortedJson(diffed) !== sortedJson(direct)) problems.push(`the direct patch and compare(original, mutated) give different documents at ${firstDifference(direct, diffed)}`);
  if (!same(result.mutated, oracle)) problems.push(`the structurally shared mutated pod differs from the deep-copy result at ${firstDifference(result.mutated, oracle)}`);
  for (const op of result.patch) {
    if (!ALLOWED.test(op.path)) problems.push(`an operation outside what sidelog adds: ${op.op} ${op.path}`);
    if (op.op === 'replace' && !op.path.startsWith('/metadata/annotations/sidelog.io~1')) problems.push(`replaces something not sidelog's: ${op.path}`);
    else if (op.op !== 'add' && op.op !== 'replace') problems.push(`an operation that is not add: ${op.op} ${op.path}`);
  }
  // Everything the pod had is still there, in place: the first containers, volumes and mounts are unchanged.
  const after = direct as Pod;
  for (const [i, c] of original.spec.containers.entries()) {
    const { volumeMounts: before = [], ...rest } = c;
    const { volumeMounts: now = [], ...restAfter } = after.spec.containers[i]!;
    if (!same(rest, restAfter) || !same(before, now.slice(0, before.length))) problems.push(`container ${c.name} changed beyond new mounts`);
  }
  if (!same(original.spec.volumes ?? [], (after.spec.volumes ?? []).slice(0, original.spec.volumes?.length ?? 0))) problems.push('the pod\'s volumes changed');
  const inits = original.spec.initContainers ?? [];
  if (!same(inits, (after.spec.initContainers ?? []).slice((after.spec.initContainers?.length ?? 0) - inits.length))) problems.push('the pod\'s init containers changed');
  return problems;
}
