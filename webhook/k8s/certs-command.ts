/** `sidelog certs ensure|rotate` against the cluster in the kubeconfig (in-cluster service account, KUBECONFIG, ~/.kube/config). */
import { type EnsureOptions, type EnsureReport, ensureCerts } from '../../certs/rotate.js';
import { kubeCertStore } from './cert-store.js';
import type { KubeTarget } from './kubeconfig.js';
import { defaultKubeConfig } from './version.js';

export async function ensureCertsInCluster(opts: EnsureOptions, target: KubeTarget = {}): Promise<EnsureReport> {
  return ensureCerts(kubeCertStore(defaultKubeConfig(target), opts.namespace), opts);
}
