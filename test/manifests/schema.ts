/**
 * Validation of built manifests against the Kubernetes API schemas, two ways:
 * - `schemaProblems`: kubernetes-models, the official OpenAPI schemas compiled to validators
 *   (types, enums, required fields, formats) for every built-in apiVersion/kind;
 * - `unknownFields`: every field name must exist in the API (what `kubectl apply`'s strict field
 *   validation refuses), from the model attribute maps of @kubernetes/client-node, which the
 *   webhook already depends on. The OpenAPI schemas do not forbid unknown properties, so a typo
 *   such as `readOnlyRootFileSystem` passes the first check and is caught by the second.
 */
import * as clientNode from '@kubernetes/client-node';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import * as admissionregistration from 'kubernetes-models/admissionregistration.k8s.io/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as batch from 'kubernetes-models/batch/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as core from 'kubernetes-models/v1';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
};

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** The model modules by apiVersion; each exports one class per kind. */
const GROUPS: Readonly<Record<string, Record<string, unknown>>> = {
  v1: core,
  'apps/v1': apps,
  'batch/v1': batch,
  'policy/v1': policy,
  'rbac.authorization.k8s.io/v1': rbac,
  'admissionregistration.k8s.io/v1': admissionregistration,
  // Prometheus Operator CRDs (the monitoring component): schemas from the operator's CRDs.
  'monitoring.coreos.com/v1': monitoring,
};

/** Whether the schema library knows this apiVersion/kind (CRDs such as cert-manager's are not). */
export function hasSchema(obj: K8sObject): boolean {
  return typeof GROUPS[obj.apiVersion]?.[obj.kind] === 'function';
}

/** Schema violations of one object (empty = valid). Throws for an apiVersion/kind it does not know. */
export function schemaProblems(obj: K8sObject): string[] {
  const Model = GROUPS[obj.apiVersion]?.[obj.kind] as ModelClass | undefined;
  if (typeof Model !== 'function') throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return String((e as Error).message).split('\n').filter(Boolean);
  }
}

interface Attribute {
  name: string;
  baseName: string;
  type: string;
}
type Models = Record<string, { getAttributeTypeMap?: () => Attribute[] } | undefined>;
const MODELS = clientNode as unknown as Models;
const SCALARS = new Set(['string', 'number', 'boolean', 'Date', 'any', 'object', 'IntOrString', 'RuntimeRawExtension']);

/** Field paths the API does not define, e.g. `spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem`. */
export function unknownFields(obj: K8sObject): string[] {
  const top = `V1${obj.kind}`;
  if (!MODELS[top]?.getAttributeTypeMap) throw new Error(`no field list for ${obj.apiVersion} ${obj.kind}`);
  const out: string[] = [];
  const walk = (value: unknown, type: string, path: string): void => {
    if (value === null || value === undefined || SCALARS.has(type)) return;
    const array = /^Array<(.+)>$/.exec(type);
    if (array) {
      if (Array.isArray(value)) value.forEach((v, i) => walk(v, array[1]!, `${path}[${i}]`));
      return;
    }
    const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
    if (map) {
      if (typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, map[1]!, `${path}[${JSON.stringify(k)}]`);
      return;
    }
    const attrs = MODELS[type]?.getAttributeTypeMap?.();
    if (!attrs) throw new Error(`unknown model type ${type} at ${path}`);
    if (typeof value !== 'object' || Array.isArray(value)) return; // a type error: schemaProblems reports it
    for (const [k, v] of Object.entries(value)) {
      const attr = attrs.find((a) => a.baseName === k);
      if (!attr) out.push(path ? `${path}.${k}` : k);
      else walk(v, attr.type, path ? `${path}.${k}` : k);
    }
  };
  walk(obj, top, '');
  return out;
}
