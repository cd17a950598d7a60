/**
 * The API server's view of a mutation: the JSON patch must apply to the original and give exactly
 * the mutated pod, and that pod must pass the validation rules a sidecar injector can break
 * (k8s.io/kubernetes pkg/apis/core/validation and apimachinery's validation helpers).
 */
import { isDeepStrictEqual } from 'node:util';
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Container, Pod } from '../../webhook/core/pod.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const objOf = (v: unknown): Obj | undefined => (isObj(v) ? v : undefined);
const listOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** A Kubernetes resource quantity (apimachinery resource.Quantity's text form). */
export const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
/** apimachinery TotalAnnotationSizeLimitB: keys plus values, in bytes. */
export const ANNOTATION_SIZE_LIMIT = 256 * 1024;

/** fieldRef paths the API server accepts in an env var's valueFrom (besides the subscripted ones). */
const ENV_FIELD_PATHS = new Set([
  'metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName',
  'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs',
]);
/** fieldRef paths the API server accepts in a downwardAPI volume item (besides the subscripted ones). */
const VOLUME_FIELD_PATHS = new Set(['metadata.name', 'metadata.namespace', 'metadata.uid', 'metadata.labels', 'metadata.annotations']);
const SUBSCRIPTED_FIELD_PATH = /^metadata\.(labels|annotations)\['(.*)'\]$/;

/** A DNS-1123 label: lower-case alphanumerics and '-', at most 63 characters. */
export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

/** A label or annotation key: `[dns-subdomain/]name`, name at most 63 characters. */
export function isQualifiedName(s: string): boolean {
  const parts = s.split('/');
  if (parts.length > 2) return false;
  const name = parts[parts.length - 1]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) return false;
  }
  return name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

/** An exact rational value of a quantity (num / den), or undefined when `s` is not a quantity. */
export function quantityValue(s: string): { num: bigint; den: bigint } | undefined {
  const m = QUANTITY.exec(s);
  if (!m) return undefined;
  const [, unsigned = '', , suffix = ''] = m;
  const negative = s.startsWith('-');
  const [int = '', frac = ''] = unsigned.split('.');
  let num = BigInt(`${int || '0'}${frac}`) * (negative ? -1n : 1n);
  let den = 10n ** BigInt(frac.length);
  const decimal: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
  const binary: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
  let exp10: number;
  if (/^[eE][+-]?\d+$/.test(suffix)) exp10 = Number(suffix.slice(1));
  else if (suffix in binary) {
    num *= 2n ** BigInt(binary[suffix]!);
    exp10 = 0;
  } else exp10 = decimal[suffix]!;
  if (exp10 >= 0) num *= 10n ** BigInt(exp10);
  else den *= 10n ** BigInt(-exp10);
  return { num, den };
}

/** -1, 0 or 1 as quantity a is below, equal to or above b (both must be valid quantities). */
export function compareQuantities(a: string, b: string): number {
  const x = quantityValue(a);
  const y = quantityValue(b);
  if (!x || !y) throw new Error(`not quantities: ${a}, ${b}`);
  const l = x.num * y.den;
  const r = y.num * x.den;
  return l < r ? -1 : l > r ? 1 : 0;
}

/** The first JSON pointer at which a and b differ, for a readable report. */
function firstDifference(a: unknown, b: unknown, path = ''): string {
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!isDeepStrictEqual(a[k], b[k])) return firstDifference(a[k], b[k], `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    }
  } else if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length; i++) if (!isDeepStrictEqual(a[i], b[i])) return firstDifference(a[i], b[i], `${path}/${i}`);
  }
  const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v).slice(0, 80));
  return `${path || '/'} (${show(a)} vs ${show(b)})`;
}

interface Named {
  kind: 'container' | 'initContainer' | 'ephemeralContainer';
  c: Container;
}

function allContainers(pod: Pod): Named[] {
  const spec = pod.spec as unknown as Obj;
  return [
    ...listOf(spec.containers).map((c) => ({ kind: 'container' as const, c: c as Container })),
    ...listOf(spec.initContainers).map((c) => ({ kind: 'initContainer' as const, c: c as Container })),
    ...listOf(spec.ephemeralContainers).map((c) => ({ kind: 'ephemeralContainer' as const, c: c as Container })),
  ];
}

function checkFieldPath(path: unknown, allowed: Set<string>, where: string, out: string[]): void {
  if (typeof path !== 'string') return void out.push(`${where}: fieldRef.fieldPath is missing`);
  const sub = SUBSCRIPTED_FIELD_PATH.exec(path);
  if (sub) {
    if (!isQualifiedName(sub[1] === 'annotations' ? sub[2]!.toLowerCase() : sub[2]!)) out.push(`${where}: fieldPath ${path} has an invalid key`);
    return;
  }
  if (!allowed.has(path)) out.push(`${where}: fieldPath ${JSON.stringify(path)} is not supported here`);
}

function checkDownwardItems(items: unknown, where: string, out: string[]): void {
  for (const item of listOf(items)) {
    const it = objOf(item) ?? {};
    const path = it.path;
    if (typeof path !== 'string' || path === '' || path.startsWith('/') || path.startsWith('..') || path.split('/').includes('..')) {
      out.push(`${where}: item path ${JSON.stringify(path)} must be a relative path without '..'`);
    }
    const fieldRef = objOf(it.fieldRef);
    if (fieldRef) {
      if (fieldRef.apiVersion !== undefined && fieldRef.apiVersion !== 'v1') out.push(`${where}: fieldRef.apiVersion ${str(fieldRef.apiVersion)} is not v1`);
      checkFieldPath(fieldRef.fieldPath, VOLUME_FIELD_PATHS, `${where} item ${JSON.stringify(path)}`, out);
    }
  }
}

function checkQuantity(q: unknown, where: string, out: string[]): boolean {
  if (typeof q !== 'string' || !QUANTITY.test(q)) {
    out.push(`${where}: ${JSON.stringify(q)} is not a valid quantity`);
    return false;
  }
  if (compareQuantities(q, '0') < 0) {
    out.push(`${where}: ${q} must not be negative`);
    return false;
  }
  return true;
}

/**
 * Security fields the API server forbids on a pod whose spec.os.name is windows (validateWindows in
 * pkg/apis/core/validation; the API reference marks each "cannot be set when spec.os.name is
 * windows"), and the one it forbids on a linux pod (windowsOptions, validateLinux).
 */
export const WINDOWS_FORBIDDEN_CONTAINER = [
  'allowPrivilegeEscalation', 'appArmorProfile', 'capabilities', 'privileged', 'procMount', 'readOnlyRootFilesystem',
  'runAsGroup', 'runAsUser', 'seLinuxOptions', 'seccompProfile',
] as const;
export const WINDOWS_FORBIDDEN_POD = [
  'appArmorProfile', 'fsGroup', 'fsGroupChangePolicy', 'runAsGroup', 'runAsUser', 'seLinuxChangePolicy', 'seLinuxOptions',
  'seccompProfile', 'supplementalGroups', 'supplementalGroupsPolicy', 'sysctls',
] as const;

function checkOsFields(spec: Obj, containers: Named[], out: string[]): void {
  const os = objOf(spec.os)?.name;
  if (os === undefined) return;
  const podSc = objOf(spec.securityContext) ?? {};
  if (os === 'windows') {
    for (const f of WINDOWS_FORBIDDEN_POD) if (podSc[f] !== undefined) out.push(`spec.securityContext.${f} cannot be set for a windows pod`);
    for (const { kind, c } of containers) {
      const sc = objOf(c.securityContext) ?? {};
      for (const f of WINDOWS_FORBIDDEN_CONTAINER) if (sc[f] !== undefined) out.push(`${kind} "${c.name}": securityContext.${f} cannot be set for a windows pod`);
    }
  } else if (os === 'linux') {
    if (podSc.windowsOptions !== undefined) out.push('spec.securityContext.windowsOptions cannot be set for a linux pod');
    for (const { kind, c } of containers) {
      if (objOf(c.securityContext)?.windowsOptions !== undefined) out.push(`${kind} "${c.name}": securityContext.windowsOptions cannot be set for a linux pod`);
    }
  } else out.push(`spec.os.name ${JSON.stringify(os)} is neither linux nor windows`);
}

/** validateLocalDescendingPath: relative, no `..` element (subPath, subPathExpr, downwardAPI item paths). */
function isLocalDescendingPath(p: string): boolean {
  return !p.startsWith('/') && !p.split(/[\\/]/).includes('..');
}

/** The validation rules, on one pod. */
export function podViolations(pod: Pod): string[] {
  const out: string[] = [];
  const spec = (objOf(pod.spec) ?? {}) as Obj;
  const containers = allContainers(pod);

  // Containers: unique DNS-1123 names across all three lists; restartPolicy only on init containers.
  const seenNames = new Set<string>();
  for (const { kind, c } of containers) {
    const name = c.name;
    if (typeof name !== 'string' || !isDns1123Label(name)) out.push(`${kind} name ${JSON.stringify(name)} is not a DNS-1123 label`);
    if (seenNames.has(name)) out.push(`container name ${JSON.stringify(name)} is not unique across containers, initContainers and ephemeralContainers`);
    seenNames.add(name);
    if (c.restartPolicy !== undefined && !(kind === 'initContainer' && c.restartPolicy === 'Always')) {
      out.push(`${kind} "${name}": restartPolicy ${JSON.stringify(c.restartPolicy)} is only allowed as "Always" on an initContainer`);
    }
  }

  // Volumes.
  const volumes = new Set<string>();
  for (const v of listOf(spec.volumes)) {
    const vol = objOf(v) ?? {};
    const name = vol.name;
    if (typeof name !== 'string' || !isDns1123Label(name)) out.push(`volume name ${JSON.stringify(name)} is not a DNS-1123 label`);
    else if (volumes.has(name)) out.push(`volume name "${name}" is not unique`);
    else volumes.add(name);
    const emptyDir = objOf(vol.emptyDir);
    if (emptyDir && emptyDir.sizeLimit !== undefined) checkQuantity(emptyDir.sizeLimit, `volume "${str(name)}" emptyDir.sizeLimit`, out);
    const downward = objOf(vol.downwardAPI);
    if (downward) checkDownwardItems(downward.items, `volume "${str(name)}" downwardAPI`, out);
    for (const source of listOf(objOf(vol.projected)?.sources)) {
      const projectedDownward = objOf(objOf(source)?.downwardAPI);
      if (projectedDownward) checkDownwardItems(projectedDownward.items, `volume "${str(name)}" projected downwardAPI`, out);
    }
  }

  for (const { kind, c } of containers) {
    const where = `${kind} "${c.name}"`;
    // Mounts.
    const mountPaths = new Set<string>();
    for (const m of listOf(c.volumeMounts)) {
      const mount = objOf(m) ?? {};
      if (typeof mount.name !== 'string' || !volumes.has(mount.name)) out.push(`${where}: volumeMount ${JSON.stringify(mount.name)} names no volume`);
      const path = mount.mountPath;
      if (typeof path !== 'string' || !path.startsWith('/')) out.push(`${where}: mountPath ${JSON.stringify(path)} is not absolute`);
      else if (mountPaths.has(path)) out.push(`${where}: mountPath "${path}" is used twice`);
      else mountPaths.add(path);
      for (const key of ['subPath', 'subPathExpr'] as const) {
        const sub = mount[key];
        if (sub !== undefined && (typeof sub !== 'string' || !isLocalDescendingPath(sub))) out.push(`${where}: volumeMount ${str(mount.name)} ${key} ${JSON.stringify(sub)} must be a relative path without '..'`);
      }
      if (mount.subPath !== undefined && mount.subPath !== '' && mount.subPathExpr !== undefined && mount.subPathExpr !== '') {
        out.push(`${where}: volumeMount ${str(mount.name)} sets both subPath and subPathExpr`);
      }
    }
    // Resources.
    const resources = objOf(c.resources) ?? {};
    const requests = objOf(resources.requests) ?? {};
    const limits = objOf(resources.limits) ?? {};
    const valid = new Set<string>();
    for (const [group, map] of [['requests', requests], ['limits', limits]] as const) {
      for (const [res, q] of Object.entries(map)) if (checkQuantity(q, `${where}: resources.${group}.${res}`, out)) valid.add(`${group}.${res}`);
    }
    for (const [res, q] of Object.entries(requests)) {
      const limit = limits[res];
      if (limit !== undefined && valid.has(`requests.${res}`) && valid.has(`limits.${res}`) && compareQuantities(q as string, limit as string) > 0) {
        out.push(`${where}: resources.requests.${res} ${str(q)} exceeds the limit ${str(limit)}`);
      }
    }
    // Env.
    const envNames = new Set<string>();
    for (const e of listOf(c.env)) {
      const env = objOf(e) ?? {};
      const name = env.name;
      if (typeof name !== 'string' || !ENV_VAR_NAME.test(name)) out.push(`${where}: env name ${JSON.stringify(name)} is not a valid environment variable name`);
      else if (envNames.has(name)) out.push(`${where}: env "${name}" is defined twice`);
      else envNames.add(name);
      const fieldRef = objOf(objOf(env.valueFrom)?.fieldRef);
      if (fieldRef) {
        if (fieldRef.apiVersion !== undefined && fieldRef.apiVersion !== 'v1') out.push(`${where}: env "${str(name)}" fieldRef.apiVersion ${str(fieldRef.apiVersion)} is not v1`);
        checkFieldPath(fieldRef.fieldPath, ENV_FIELD_PATHS, `${where}: env "${str(name)}"`, out);
      }
    }
  }

  checkOsFields(spec, containers, out);

  // Annotations.
  const annotations = objOf(pod.metadata?.annotations);
  if (pod.metadata?.annotations !== undefined && !annotations) out.push('metadata.annotations is not a map');
  let size = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) {
    if (!isQualifiedName(k)) out.push(`annotation key ${JSON.stringify(k)} is not a valid qualified name`);
    if (typeof v !== 'string') out.push(`annotation ${k} has a non-string value ${JSON.stringify(v)}`);
    size += Buffer.byteLength(k, 'utf8') + Buffer.byteLength(typeof v === 'string' ? v : JSON.stringify(v) ?? '', 'utf8');
  }
  if (size > ANNOTATION_SIZE_LIMIT) out.push(`annotations total ${size} bytes, over the ${ANNOTATION_SIZE_LIMIT}-byte limit`);
  return out;
}

/**
 * Violations (empty = fine) of applying `patch` to `original` as the API server would: the patch
 * must apply cleanly (with validation) and yield exactly `mutated`, and the result must pass
 * {@link podViolations}.
 */
export function checkPodInvariants(original: Pod, mutated: Pod, patch: Operation[]): string[] {
  const out: string[] = [];
  let patched: Pod | undefined;
  try {
    patched = fastJsonPatch.applyPatch(structuredClone(original), patch, true, true).newDocument;
  } catch (e) {
    out.push(`patch does not apply: ${(e as Error).message.split('\n')[0]}`);
  }
  // Compared as the JSON the API server sees (a property set to undefined is no property).
  const asJson = (p: Pod): unknown => JSON.parse(JSON.stringify(p));
  if (patched && !isDeepStrictEqual(asJson(patched), asJson(mutated))) {
    out.push(`patch result differs from the mutated pod at ${firstDifference(asJson(patched), asJson(mutated))}`);
  }
  out.push(...podViolations(patched ?? mutated));
  return out;
}
