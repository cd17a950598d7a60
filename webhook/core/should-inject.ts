/**
 * Small named filters that decide whether a request is sidelog's business at all. Each returns
 * the reason to skip, or undefined to go on. They run before any parsing.
 */
import { INJECT, STATUS, STREAMS, optsOut } from './annotations.js';
import type { Pod } from './pod.js';
import { type StatusVerdict, readStatus } from './status.js';

export interface RequestFacts {
  readonly operation: string;
  readonly kind: string;
  readonly subResource?: string | undefined;
  readonly annotations: Readonly<Record<string, string>>;
  /** The pod as it arrived (unvalidated), to check that `sidelog.io/status` is sidelog's own. */
  readonly pod?: unknown;
  /** The verdict on `sidelog.io/status` when the caller has read it already (it needs it again). */
  readonly status?: StatusVerdict;
}

/**
 * Every `skip.code` sidelog reports: a stable label for metrics and audit annotations, documented
 * one by one in docs/skip-codes.md.
 */
export const SKIP_CODES = [
  'operation', 'kind', 'subresource', 'opted-out', 'already-injected', 'not-requested',
  'invalid-pod', 'windows', 'run-to-completion', 'invalid', 'annotations-too-large',
] as const;
export type SkipCode = (typeof SKIP_CODES)[number];

type Filter = (r: RequestFacts) => string | undefined;

const onlyCreate: Filter = (r) => (r.operation === 'CREATE' ? undefined : `operation ${r.operation} is not mutated (pods are injected at CREATE only)`);
const onlyPods: Filter = (r) => (r.kind === 'Pod' ? undefined : `kind ${r.kind} is not mutated (only Pod)`);
const noSubResource: Filter = (r) => (r.subResource ? `subresource ${r.subResource} is not mutated` : undefined);
const optedOut: Filter = (r) => {
  const v = r.annotations[INJECT];
  return optsOut(v) ? `opted out (${INJECT}: "${String(v).trim()}")` : undefined;
};
/** Only sidelog's own status counts: well-formed and matching the sidecars the pod carries (status.ts). */
const alreadyInjected: Filter = (r) =>
  (r.status ?? readStatus(r.annotations[STATUS], r.pod)).kind === 'own' ? `already injected (${STATUS} matches the sidecars in the pod)` : undefined;
const nothingRequested: Filter = (r) => (r.annotations[STREAMS] === undefined ? `no ${STREAMS} annotation` : undefined);

/** In order: the first reason wins. */
export const FILTERS: ReadonlyArray<readonly [SkipCode, Filter]> = [
  ['operation', onlyCreate],
  ['kind', onlyPods],
  ['subresource', noSubResource],
  ['opted-out', optedOut],
  ['already-injected', alreadyInjected],
  ['not-requested', nothingRequested],
];

/**
 * Pods sidelog cannot serve: injecting would make a pod the API server refuses. Checked on the
 * validated pod, after the filters above; the code is a stable metric label (docs/skip-codes.md).
 */
export function unservableReason(pod: Pod): { code: SkipCode; reason: string } | undefined {
  if (pod.spec.os?.name === 'windows') {
    return { code: 'windows', reason: 'spec.os.name is windows: the sidecars are Linux containers, and the API server forbids their Linux security settings (seccompProfile, capabilities, readOnlyRootFilesystem, privileged, allowPrivilegeEscalation, runAsUser, runAsGroup) on a Windows pod' };
  }
  if (pod.spec.securityContext?.windowsOptions?.hostProcess === true) {
    return { code: 'windows', reason: 'spec.securityContext.windowsOptions.hostProcess is set: a Windows HostProcess pod runs only HostProcess containers' };
  }
  return undefined;
}

/** `{code, reason}` for the first filter that says skip, or undefined. `code` is a stable metric label. */
export function skipReason(r: RequestFacts): { code: SkipCode; reason: string } | undefined {
  for (const [code, filter] of FILTERS) {
    const reason = filter(r);
    if (reason !== undefined) return { code, reason };
  }
  return undefined;
}
