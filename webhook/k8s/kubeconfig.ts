/**
 * Which cluster the CLI talks to: kubectl's `--kubeconfig` and `--context` (a kubectl plugin gets
 * them as its own arguments), else KUBECONFIG, ~/.kube/config or the in-cluster service account.
 */
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeTarget {
  /** A kubeconfig file (kubectl's `--kubeconfig`); default: KUBECONFIG, ~/.kube/config, in-cluster. */
  readonly kubeconfig?: string | undefined;
  /** A context of that kubeconfig (kubectl's `--context`); default: its current context. */
  readonly context?: string | undefined;
}

export function loadKubeConfig(target: KubeTarget = {}): KubeConfig {
  const kc = new KubeConfig();
  if (target.kubeconfig !== undefined) kc.loadFromFile(target.kubeconfig);
  else kc.loadFromDefault();
  if (target.context !== undefined) {
    if (!kc.getContextObject(target.context)) throw new Error(`--context: no context "${target.context}" in the kubeconfig (contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    kc.setCurrentContext(target.context);
  }
  return kc;
}

/** The namespace kubectl would use without `-n`: the context's own, else `default`. */
export function contextNamespace(target: KubeTarget = {}): string {
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(target);
  } catch (e) {
    // No kubeconfig at all is fine offline (kubectl would say `default` too); a named one must load.
    if (target.kubeconfig === undefined && target.context === undefined) return 'default';
    throw e;
  }
  return kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
}
