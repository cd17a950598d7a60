/**
 * Who a sidecar runs as, so it can read the files the app writes (docs/pipelines.md "File
 * permissions"): the user of the container that writes the stream (its own securityContext, else
 * the pod's), else the policy's default. A group is set only when the writer sets one in its own
 * securityContext; a pod-level runAsGroup, fsGroup and supplementalGroups apply to the sidecar by
 * themselves, as to every container of the pod. Sidelog cannot see an image's USER (no registry
 * calls at admission): an app that writes 0600 files must say its UID in runAsUser.
 */
import type { Identity } from './sidecar-model.js';
import type { Pod } from './pod.js';

export interface IdentityResult {
  readonly identity: Identity;
  readonly warnings: string[];
}

const nonRoot = (n: unknown): number | undefined => (typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined);

/** The identity for a sidecar reading the files of `writers` (container names). */
export function sidecarIdentity(pod: Pod, writers: readonly string[], defaultUser: number): IdentityResult {
  const podSc = pod.spec.securityContext ?? {};
  const seen: Array<{ container: string; user: number | undefined; group: number | undefined }> = [];
  for (const name of new Set(writers)) {
    const c = pod.spec.containers.find((x) => x.name === name);
    const sc = c?.securityContext ?? {};
    seen.push({ container: name, user: nonRoot(sc.runAsUser) ?? nonRoot(podSc.runAsUser), group: nonRoot(sc.runAsGroup) });
  }
  const users = [...new Set(seen.map((w) => w.user).filter((u): u is number => u !== undefined))];
  const warnings: string[] = [];
  if (users.length > 1) {
    warnings.push(`containers ${seen.map((w) => `${w.container} (runAsUser ${w.user ?? 'unset'})`).join(', ')} write log files as different users; the agent runs as ${users[0]} and reads the others' files only through group or other read permission (fsGroup)`);
  }
  const first = seen.find((w) => w.user === users[0]);
  const runAsUser = users[0] ?? defaultUser;
  const runAsGroup = first?.group;
  return { identity: { runAsUser, ...(runAsGroup !== undefined ? { runAsGroup } : {}) }, warnings };
}
