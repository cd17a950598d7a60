/**
 * The Kubernetes API server's version, read once at start through @kubernetes/client-node
 * (in-cluster service account, or the local kubeconfig). The only caller is `serve --discover-version`.
 */
import { type KubeConfig, VersionApi } from '@kubernetes/client-node';
import { type KubeTarget, loadKubeConfig } from './kubeconfig.js';

export async function discoverKubeVersion(kc: KubeConfig = defaultKubeConfig()): Promise<string | undefined> {
  const info = await kc.makeApiClient(VersionApi).getCode();
  return info.gitVersion;
}

export function defaultKubeConfig(target: KubeTarget = {}): KubeConfig {
  return loadKubeConfig(target);
}
