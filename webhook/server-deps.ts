/**
 * What the HTTP shell is given: the types that `server.ts` and every route module share, in a
 * module of their own so that dependencies point one way (routes -> these types <- server).
 */
import type { KubeVersion } from './core/kube-version.js';
import type { Policy } from './core/policy.js';
import type { Metrics } from './metrics.js';

export interface ServerDeps {
  readonly policy: () => Policy;
  /** The text of the policy in force (undefined for the built-in policy), for preview processes. */
  readonly policyText: () => string | undefined;
  readonly policySource: () => string;
  readonly kubeVersion: () => KubeVersion | undefined;
  /** Why the server is not ready (empty when ready). */
  readonly readiness: () => string[];
  /** The error of the last policy update that was refused, if the last one was. */
  readonly policyError?: () => string | undefined;
  readonly metrics: Metrics;
}
