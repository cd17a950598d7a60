/**
 * Preview: what the webhook would do to a manifest. A Pod is mutated as the API server would send
 * it; for a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) the pod the
 * controller would create is mutated (workload-pod.ts), and sidelog's changes are carried back into
 * the pod template. Pure, like mutate. A workload's patch is the diff of the manifest and its
 * mutated copy: the admission pod (API defaults, claim volumes) is not the template, so the pod's
 * own patch would not apply to it; preview runs in a worker, off the admission path.
 */
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { KubeVersion } from '../core/kube-version.js';
import { type Enforcement, type MutateResult, mutate } from './mutate.js';
import { type Obj, type Pod, isObject } from '../core/pod.js';
import type { Policy } from '../core/policy.js';
import { InputError } from '../core/problems.js';
import { TEMPLATE_PATH, admissionPod, withSidelogChanges } from '../core/workload-pod.js';
import { YamlError, parseYamlDocuments } from '../core/yaml.js';

export { TEMPLATE_PATH };

export const PREVIEW_KINDS = ['Pod', ...Object.keys(TEMPLATE_PATH)];

export interface PreviewOptions {
  readonly policy: Policy;
  readonly kubeVersion?: KubeVersion | undefined;
  readonly enforcement?: Enforcement;
  /** Namespace to assume when the manifest names none. */
  readonly namespace?: string;
}

export interface PreviewResult {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly allowed: boolean;
  readonly denial?: string;
  /** JSON patch against the whole manifest object. */
  readonly patch: Operation[];
  readonly mutated: unknown;
  /** The pod the controller would create from the manifest, as the webhook would leave it. */
  readonly pod?: unknown;
  readonly warnings: string[];
  readonly skipReason?: string;
  readonly injection?: MutateResult['injection'];
  readonly configs: MutateResult['configs'];
}

/** Preview one manifest object. Throws InputError naming the field when it is not a previewable object. */
export function previewObject(doc: unknown, opts: PreviewOptions, source = 'manifest'): PreviewResult {
  if (!isObject(doc)) throw new InputError(source, [{ field: '', message: 'must be a Kubernetes object (a mapping with kind)' }]);
  const kind = doc.kind;
  if (typeof kind !== 'string') throw new InputError(source, [{ field: 'kind', message: 'required' }]);
  if (!PREVIEW_KINDS.includes(kind)) {
    throw new InputError(source, [{ field: 'kind', message: `${kind} cannot be previewed (use one of ${PREVIEW_KINDS.join(', ')})` }]);
  }
  const metadata = isObject(doc.metadata) ? doc.metadata : {};
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : opts.namespace ?? 'default';
  const name = typeof metadata.name === 'string' ? metadata.name : typeof metadata.generateName === 'string' ? metadata.generateName : '';

  const admitted = admissionPod(doc, kind, namespace);
  if ('problems' in admitted) throw new InputError(source, admitted.problems);
  const { pod, template, path } = admitted.value;
  const result = mutate({ object: pod, namespace, policy: opts.policy, kubeVersion: opts.kubeVersion, enforcement: opts.enforcement ?? 'enabled' });
  let mutated: unknown = doc;
  if (result.patch.length) {
    const own = withSidelogChanges(template, pod, result.mutated as Pod);
    if (path.length === 0) {
      mutated = own;
    } else {
      // Only the objects on the way to the template are copied; the rest is shared with the input.
      const copy: Obj = { ...doc };
      let node: Obj = copy;
      for (const key of path) node = node[key] = { ...(node[key] as Obj) };
      node.metadata = own.metadata;
      node.spec = own.spec;
      mutated = copy;
    }
  }
  return {
    kind,
    name,
    namespace,
    allowed: result.allowed,
    ...(result.denial !== undefined ? { denial: result.denial } : {}),
    patch: result.patch.length ? fastJsonPatch.compare(doc, mutated as Obj) : [],
    mutated,
    pod: result.mutated,
    warnings: result.warnings,
    ...(result.skip ? { skipReason: result.skip.reason } : {}),
    ...(result.injection ? { injection: result.injection } : {}),
    configs: result.configs,
  };
}

/** One document of a manifest file: an object, or a `kind: List` and its items. */
export type ManifestDocument = { readonly object: unknown } | { readonly list: Obj; readonly items: readonly unknown[] };

/**
 * Parse a manifest (JSON, YAML, multi-document YAML, `kind: List`s) into its documents. Throws
 * InputError naming the document and line on a syntax error.
 */
export function parseManifestDocuments(text: string, source = 'manifest'): ManifestDocument[] {
  let docs: unknown[];
  try {
    docs = parseYamlDocuments(text, 100);
  } catch (e) {
    // Nesting deeper than the parser's stack is a depth problem: the caller answers it as one.
    if (e instanceof YamlError && e.tooDeep) throw new RangeError(`${source}: nests too deeply to parse (${e.message})`);
    const line = e instanceof YamlError ? e.line : undefined;
    throw new InputError(source, [{ field: '', message: `is not valid YAML or JSON${line ? ` (line ${line})` : ''}: ${(e as Error).message}` }]);
  }
  const out: ManifestDocument[] = [];
  for (const value of docs) {
    if (value === null || value === undefined) continue;
    if (isObject(value) && value.kind === 'List' && Array.isArray(value.items)) out.push({ list: value, items: value.items });
    else out.push({ object: value });
  }
  if (out.every((d) => ('items' in d ? d.items.length === 0 : false))) throw new InputError(source, [{ field: '', message: 'contains no object' }]);
  return out;
}

export interface ManifestPreview {
  /** One result per object, in order; `label` says which document (and List item) it is. */
  readonly results: ReadonlyArray<PreviewResult & { readonly label: string }>;
  /** The manifest's documents with every object mutated: a List stays a List. */
  readonly documents: unknown[];
}

/**
 * Preview every object of a parsed manifest. With more than one object, objects sidelog does not
 * preview (a Service, a ConfigMap) pass through unchanged, and each result is labelled with its
 * document; a single object of another kind is an error.
 */
export function previewManifest(docs: readonly ManifestDocument[], opts: PreviewOptions, source = 'manifest'): ManifestPreview {
  const count = docs.reduce((n, d) => n + ('items' in d ? d.items.length : 1), 0);
  const results: Array<PreviewResult & { label: string }> = [];
  const one = (object: unknown, label: string): unknown => {
    const kind = isObject(object) ? object.kind : undefined;
    const r = count > 1 && typeof kind === 'string' && !PREVIEW_KINDS.includes(kind) ? passThrough(object as Obj, kind, opts) : previewObject(object, opts, label);
    results.push({ ...r, label });
    return r.mutated;
  };
  const documents = docs.map((d, i) => {
    const where = docs.length > 1 ? [`document ${i + 1}`] : [];
    const label = (parts: string[]) => (parts.length ? `${source} (${parts.join(', ')})` : source);
    if ('items' in d) return { ...d.list, items: d.items.map((item, j) => one(item, label([...where, `item ${j + 1}`]))) };
    return one(d.object, label(where));
  });
  return { results, documents };
}

function passThrough(object: Obj, kind: string, opts: PreviewOptions): PreviewResult {
  const metadata = isObject(object.metadata) ? object.metadata : {};
  return {
    kind,
    name: typeof metadata.name === 'string' ? metadata.name : '',
    namespace: typeof metadata.namespace === 'string' ? metadata.namespace : opts.namespace ?? 'default',
    allowed: true,
    patch: [],
    mutated: object,
    warnings: [],
    skipReason: `kind ${kind} has no pods: passed through unchanged`,
    configs: [],
  };
}

/**
 * The lines a user reads about one result, as kubectl prints them (`Warning: ...`, `Error: ...`);
 * with several objects each names its document (`Warning: app.yaml (document 2): sidelog: ...`).
 */
export function diagnostics(r: PreviewResult & { readonly label: string }, labelled: boolean): string[] {
  const where = labelled ? `${r.label}: ` : '';
  return [...r.warnings.map((w) => `Warning: ${where}${w}`), ...(r.denial ? [`Error: ${where}${r.denial}`] : [])];
}

/**
 * The JSON answer: one object's result as it is; several objects (or a List) as an array of
 * results, each labelled with its document.
 */
export function jsonAnswer(docs: readonly ManifestDocument[], results: ManifestPreview['results']): unknown {
  if (results.length === 1 && docs.length === 1 && !('items' in docs[0]!)) {
    const { label: _label, ...result } = results[0]!;
    return result;
  }
  return results;
}
