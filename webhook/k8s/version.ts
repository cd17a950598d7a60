/**
 * The Kubernetes API server's version, read once at start through @kubernetes/client-node
 * (in-cluster service account, or the local kubeconfig). The only caller is `serve --discover-version`.
 */
import { KubeConfig, VersionApi } from '@kubernetes/client-node';

export async function discoverKubeVersion(kc: KubeConfig = defaultKubeConfig()): Promise<string | undefined> {
  const info = await kc.makeApiClient(VersionApi).getCode();
  return info.gitVersion;
}

export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
