/**
 * Preview: what the webhook would do to a manifest. A Pod is mutated as it is; for a workload
 * (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) the pod template is mutated, the
 * way the webhook will see each pod the controller creates. Pure, like mutate.
 */
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { KubeVersion } from './kube-version.js';
import { type Enforcement, type MutateResult, mutate } from './mutate.js';
import type { Policy } from './policy.js';
import { InputError } from './problems.js';
import { YamlError, parseYamlDocuments } from './yaml.js';

/** Where each kind keeps its pod template. */
export const TEMPLATE_PATH: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

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
  readonly warnings: string[];
  readonly skipReason?: string;
  readonly injection?: MutateResult['injection'];
  readonly configs: MutateResult['configs'];
}

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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

  let pod: unknown = doc;
  const path = TEMPLATE_PATH[kind];
  if (path) {
    let node: unknown = doc;
    for (const [i, key] of path.entries()) {
      if (!isObject(node) || !isObject(node[key])) {
        throw new InputError(source, [{ field: path.slice(0, i + 1).join('.'), message: 'required' }]);
      }
      node = node[key];
    }
    const template = node as Obj;
    pod = { apiVersion: 'v1', kind: 'Pod', metadata: template.metadata ?? {}, spec: template.spec };
  }
  const result = mutate({ object: pod, namespace, policy: opts.policy, kubeVersion: opts.kubeVersion, enforcement: opts.enforcement ?? 'enabled' });
  let mutated: unknown = result.mutated;
  if (path && result.patch.length) {
    const copy = structuredClone(doc);
    let node: Obj = copy;
    for (const key of path) node = node[key] as Obj;
    const m = result.mutated as Obj;
    node.metadata = m.metadata;
    node.spec = m.spec;
    mutated = copy;
  }
  return {
    kind,
    name,
    namespace,
    allowed: result.allowed,
    ...(result.denial !== undefined ? { denial: result.denial } : {}),
    patch: result.patch.length ? fastJsonPatch.compare(doc, mutated as Obj) : [],
    mutated: result.patch.length ? mutated : doc,
    warnings: result.warnings,
    ...(result.skip ? { skipReason: result.skip.reason } : {}),
    ...(result.injection ? { injection: result.injection } : {}),
    configs: result.configs,
  };
}

/**
 * Parse a manifest (JSON, YAML, multi-document YAML or a `kind: List`) into objects. Throws
 * InputError naming the document and line on a syntax error.
 */
export function parseManifests(text: string, source = 'manifest'): unknown[] {
  let docs: unknown[];
  try {
    docs = parseYamlDocuments(text, 100);
  } catch (e) {
    const line = e instanceof YamlError ? e.line : undefined;
    throw new InputError(source, [{ field: '', message: `is not valid YAML or JSON${line ? ` (line ${line})` : ''}: ${(e as Error).message}` }]);
  }
  const out: unknown[] = [];
  for (const value of docs) {
    if (value === null || value === undefined) continue;
    if (isObject(value) && value.kind === 'List' && Array.isArray(value.items)) out.push(...value.items);
    else out.push(value);
  }
  if (out.length === 0) throw new InputError(source, [{ field: '', message: 'contains no object' }]);
  return out;
}
