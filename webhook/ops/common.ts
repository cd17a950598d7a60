/**
 * What `sidelog audit` and `sidelog what-if` share: kubectl-style cluster flags, the policy in
 * force (the `sidelog-policy` ConfigMap the install ships), and plain-text tables.
 */
import { type Policy, parsePolicy } from '../core/policy.js';
import type { KubeTarget } from '../k8s/kubeconfig.js';

/** The slice of the CLI's Io these commands use. */
export interface Out {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** kubectl's --kubeconfig / --context, taken off the command line by the CLI wherever they stood. */
  readonly kube?: KubeTarget;
}

/** The cluster to talk to: flags given to the command itself win over the CLI's global ones. */
export function kubeTarget(values: KubeTarget, io: Out): KubeTarget {
  return { kubeconfig: values.kubeconfig ?? io.kube?.kubeconfig, context: values.context ?? io.kube?.context };
}

/** kubectl's flags, as node:util parseArgs options. */
export const CLUSTER_FLAGS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A', default: false },
  output: { type: 'string', short: 'o', default: 'table' },
  'policy-configmap': { type: 'string', default: 'sidelog/sidelog-policy' },
} as const;

/** Where the install keeps the policy (manifests/base/kustomization.yaml: configMapGenerator). */
export const POLICY_KEY = 'policy.yaml';

export function outputFormat(value: string): 'table' | 'json' {
  if (value !== 'table' && value !== 'json') throw new Error(`-o must be table or json, not ${value}`);
  return value;
}

export function configMapRef(value: string): { namespace: string; name: string } {
  const m = /^([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*)$/.exec(value);
  if (!m) throw new Error(`--policy-configmap must be NAMESPACE/NAME, not ${value}`);
  return { namespace: m[1]!, name: m[2]! };
}

/** The policy in the ConfigMap, parsed like the webhook parses its mounted file. */
export function policyFromConfigMap(data: Record<string, string> | undefined, ref: { namespace: string; name: string }): Policy {
  const source = `ConfigMap ${ref.namespace}/${ref.name}`;
  if (data === undefined) throw new Error(`${source}: not found (is sidelog installed? use --policy-configmap NAMESPACE/NAME)`);
  const text = data[POLICY_KEY];
  if (text === undefined) throw new Error(`${source}: has no key ${POLICY_KEY}`);
  return parsePolicy(text, `${source} ${POLICY_KEY}`);
}

/** Columns padded to the widest cell, two spaces apart (kubectl's look). */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
