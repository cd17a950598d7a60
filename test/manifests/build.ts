/**
 * Build a kustomize directory with `kubectl kustomize` (offline) and look things up in the result.
 * The shapes below are the few fields the manifest tests read; the schemas check the rest.
 */
import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import type { K8sObject } from './schema.js';

export type { K8sObject };

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

export interface Probe {
  httpGet?: { path?: string; port?: number | string; scheme?: string; host?: string };
  tcpSocket?: unknown;
  exec?: unknown;
  grpc?: unknown;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: unknown; httpGet?: unknown } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[]; add?: string[] }; seccompProfile?: { type: string } };
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string; readOnly?: boolean }>;
}

export interface Volume {
  name: string;
  configMap?: { name: string; items?: unknown[] };
  secret?: { secretName: string; items?: unknown[] };
  emptyDir?: { sizeLimit?: string; medium?: string };
  [source: string]: unknown;
}

export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
  topologySpreadConstraints?: Array<{ topologyKey: string; maxSkew: number; whenUnsatisfiable: string; labelSelector?: LabelSelector }>;
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}

export interface Deployment extends K8sObject {
  spec: { replicas?: number; selector: LabelSelector; template: PodTemplate; strategy?: { rollingUpdate?: { maxUnavailable?: number | string } } };
}
export interface Job extends K8sObject {
  spec: { backoffLimit?: number; ttlSecondsAfterFinished?: number; activeDeadlineSeconds?: number; template: PodTemplate };
}
export interface CronJob extends K8sObject {
  spec: { schedule: string; concurrencyPolicy?: string; jobTemplate: { spec: Job['spec'] } };
}
export interface Service extends K8sObject {
  spec: { type?: string; selector?: Record<string, string>; ports: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string }> };
}
export interface Pdb extends K8sObject {
  spec: { minAvailable?: number | string; maxUnavailable?: number | string; selector: LabelSelector };
}
export interface ConfigMap extends K8sObject {
  data?: Record<string, string>;
}
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}
export interface Role extends K8sObject {
  rules?: PolicyRule[];
  aggregationRule?: unknown;
}
export interface Binding extends K8sObject {
  roleRef: { apiGroup: string; kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string; apiGroup?: string }>;
}
export interface MutatingWebhook {
  name: string;
  failurePolicy?: string;
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  matchConditions?: unknown[];
  rules?: Array<{ apiGroups?: string[]; apiVersions?: string[]; operations?: string[]; resources?: string[]; scope?: string }>;
  clientConfig: { url?: string; caBundle?: string; service?: { namespace: string; name: string; path?: string; port?: number } };
  sideEffects?: string;
  admissionReviewVersions?: string[];
  timeoutSeconds?: number;
  matchPolicy?: string;
  reinvocationPolicy?: string;
}
export interface WebhookConfiguration extends K8sObject {
  webhooks?: MutatingWebhook[];
}

/** `kubectl kustomize DIR`, parsed into objects. Throws with kubectl's message when the build fails. */
export function kustomize(dir: string): K8sObject[] {
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`kubectl kustomize ${dir} failed: ${err.stderr || err.message}`);
  }
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir}: ${doc.errors[0]!.message}`);
    const obj = doc.toJS() as K8sObject | null;
    return obj === null ? [] : [obj];
  });
}

/** Whether a label selector selects these labels (Kubernetes semantics; an empty selector selects everything). */
export function selects(selector: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const values = e.values ?? [];
    const ok =
      e.operator === 'In' ? has && values.includes(labels[e.key]!)
      : e.operator === 'NotIn' ? !has || !values.includes(labels[e.key]!)
      : e.operator === 'Exists' ? has
      : e.operator === 'DoesNotExist' ? !has
      : false;
    if (!ok) return false;
  }
  return true;
}

/** Equality-based Service selector. */
export function serviceSelects(selector: Record<string, string> | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export class Built {
  constructor(readonly objects: readonly K8sObject[]) {}

  all<T extends K8sObject = K8sObject>(kind: string): T[] {
    return this.objects.filter((o) => o.kind === kind) as T[];
  }

  find<T extends K8sObject = K8sObject>(kind: string, name: string): T | undefined {
    return this.objects.find((o) => o.kind === kind && o.metadata.name === name) as T | undefined;
  }

  get<T extends K8sObject = K8sObject>(kind: string, name: string): T {
    const o = this.find<T>(kind, name);
    if (!o) throw new Error(`the build has no ${kind} ${name}`);
    return o;
  }

  /** Every pod template in the build, with where it comes from. */
  podTemplates(): Array<{ owner: string; template: PodTemplate }> {
    const out: Array<{ owner: string; template: PodTemplate }> = [];
    for (const o of this.objects) {
      const spec = o.spec as { template?: PodTemplate; jobTemplate?: { spec: { template: PodTemplate } } } | undefined;
      if (spec?.template) out.push({ owner: `${o.kind} ${o.metadata.name}`, template: spec.template });
      if (spec?.jobTemplate) out.push({ owner: `${o.kind} ${o.metadata.name}`, template: spec.jobTemplate.spec.template });
    }
    return out;
  }
}
