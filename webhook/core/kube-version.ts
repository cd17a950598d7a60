/** The target cluster's Kubernetes version, and the features sidelog derives from it. */

export interface KubeVersion {
  readonly major: number;
  readonly minor: number;
}

/** `1.30`, `v1.30.2`, `v1.29.4-gke.1043002`, `1.29+` -> {major, minor}; undefined when unreadable. */
export function parseKubeVersion(text: string | undefined): KubeVersion | undefined {
  if (text === undefined) return undefined;
  const m = /^v?(\d+)\.(\d+)/.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]) };
}

export function formatKubeVersion(v: KubeVersion | undefined): string {
  return v ? `${v.major}.${v.minor}` : 'unknown';
}

/** Native sidecars (init containers with restartPolicy Always) are on by default from 1.29. */
export function supportsNativeSidecars(v: KubeVersion | undefined): boolean {
  return v !== undefined && (v.major > 1 || (v.major === 1 && v.minor >= 29));
}

/** Whether to inject native sidecars, per the policy's `nativeSidecars` and the cluster version. */
export function useNativeSidecars(setting: 'auto' | 'always' | 'never', v: KubeVersion | undefined): boolean {
  if (setting === 'always') return true;
  if (setting === 'never') return false;
  return supportsNativeSidecars(v);
}
