/**
 * Audit: does a running pod that asks for streams carry the sidecars it asked for? Pure: the pod,
 * its namespace's labels and (optionally) the policy in force in, one finding (or none) out. The
 * CLI (`sidelog audit`) and the in-server auditor feed it pods from the API; neither decides
 * anything itself.
 *
 * What a pod cannot tell: *when* its namespace was labelled. A pod without `sidelog.io/status` in a
 * labelled namespace was created either during a webhook outage or before the label was set, and
 * the finding says exactly that; a pod in an unlabelled namespace is reported as such, today.
 */
import { INJECT, STATUS, STREAMS, optsOut } from '../core/annotations.js';
import type { KubeVersion } from '../core/kube-version.js';
import { type Enforcement, AGENT_CONTAINER, mutate } from './mutate.js';
import type { Policy } from '../core/policy.js';

/** The namespace label that turns injection on (CONTRACT section 1). */
export const INJECTION_LABEL = 'sidelog.io/injection';

export const AUDIT_REASONS = [
  'namespace-not-labelled',
  'opted-out',
  'not-injected',
  'not-injectable',
  'status-mismatch',
  'sidecar-crash-looping',
  'sidecar-not-ready',
] as const;
export type AuditReason = (typeof AUDIT_REASONS)[number];

/** One line per reason, for the docs and `sidelog audit` help. */
export const REASON_TEXT: Readonly<Record<AuditReason, string>> = {
  'namespace-not-labelled': 'no sidecar: the namespace does not carry sidelog.io/injection=enabled|required (now)',
  'opted-out': 'no sidecar: the pod opts out with sidelog.io/inject',
  'not-injected': 'no sidecar: the namespace is labelled, the policy in force would inject, but the pod was never seen by the webhook (created during a webhook outage, or before the namespace was labelled)',
  'not-injectable': 'no sidecar: the namespace is labelled but the webhook cannot inject this pod (its annotations or the policy refuse every stream)',
  'status-mismatch': 'sidelog.io/status does not match the pod\'s containers (a sidecar it records is missing, or the status is unreadable)',
  'sidecar-crash-looping': 'a sidelog sidecar is in CrashLoopBackOff',
  'sidecar-not-ready': 'a sidelog sidecar is not running or not ready (image pull, missing Secret, ...)',
};

export interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; running?: unknown; terminated?: { reason?: string; exitCode?: number } };
  lastState?: { terminated?: { reason?: string; exitCode?: number } };
}

export interface OwnerReference {
  kind: string;
  name: string;
  apiVersion?: string;
  controller?: boolean;
  uid?: string;
}

/** The parts of a live pod the audit reads. */
export interface LivePod {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    [k: string]: unknown;
  };
  spec?: { containers?: Array<{ name: string }>; initContainers?: Array<{ name: string; restartPolicy?: string }>; [k: string]: unknown };
  status?: { phase?: string; containerStatuses?: ContainerStatus[]; initContainerStatuses?: ContainerStatus[]; [k: string]: unknown };
}

export interface Finding {
  readonly namespace: string;
  readonly pod: string;
  readonly reason: AuditReason;
  /** What was seen, in a sentence. */
  readonly detail: string;
  /** The sidecar containers concerned (status-mismatch, crash-looping, not-ready). */
  readonly containers?: string[];
}

export interface AuditContext {
  /** Labels of the pod's namespace now. */
  readonly namespaceLabels: Readonly<Record<string, string>>;
  /** The policy in force; without it `not-injectable` cannot be told from `not-injected`. */
  readonly policy?: Policy;
  readonly kubeVersion?: KubeVersion | undefined;
}

/** Waiting reasons of a container that is simply starting. */
const STARTING = new Set(['ContainerCreating', 'PodInitializing']);

export function enforcementOf(labels: Readonly<Record<string, string>>): Enforcement | undefined {
  const v = labels[INJECTION_LABEL];
  return v === 'enabled' || v === 'required' ? v : undefined;
}

/** The sidecar container names a `sidelog.io/status` value records, or a problem. */
export function sidecarsOfStatus(text: string): { names: string[] } | { problem: string } {
  let status: unknown;
  try {
    status = JSON.parse(text);
  } catch {
    return { problem: `${STATUS} is not valid JSON` };
  }
  const streams = (status as { streams?: unknown } | null)?.streams;
  if (!Array.isArray(streams)) return { problem: `${STATUS} records no streams` };
  const names = new Set<string>();
  for (const s of streams as Array<{ name?: unknown; mode?: unknown }>) {
    if (s?.mode === 'agent') names.add(AGENT_CONTAINER);
    else if (typeof s?.name === 'string') names.add(`sidelog-${s.name}`);
  }
  return { names: [...names].sort() };
}

/** The finding for one pod, or undefined when it asks for nothing or has what it asked for. */
export function auditPod(pod: LivePod, ctx: AuditContext): Finding | undefined {
  const ann = pod.metadata?.annotations ?? {};
  if (typeof ann[STREAMS] !== 'string') return undefined;
  const namespace = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  const found = (reason: AuditReason, detail: string, containers?: string[]): Finding => ({ namespace, pod: name, reason, detail, ...(containers ? { containers } : {}) });
  const status = ann[STATUS];
  const enforcement = enforcementOf(ctx.namespaceLabels);

  if (status === undefined) {
    if (optsOut(ann[INJECT])) return found('opted-out', `${INJECT}: "${String(ann[INJECT]).trim()}" opts the pod out although it sets ${STREAMS}`);
    if (!enforcement) {
      const label = ctx.namespaceLabels[INJECTION_LABEL];
      return found('namespace-not-labelled', `namespace ${namespace} ${label === undefined ? `has no ${INJECTION_LABEL} label` : `has ${INJECTION_LABEL}=${label} (not enabled or required)`}`);
    }
    if (ctx.policy) {
      // Would the webhook inject this pod today? If not, a restart will not help: say why.
      const r = mutate({ object: pod, namespace, policy: ctx.policy, kubeVersion: ctx.kubeVersion, enforcement });
      if (!r.allowed) return found('not-injectable', `the webhook refuses this pod: ${r.denial}`);
      if (r.skip) return found('not-injectable', `the webhook would not inject it: ${r.skip.reason}${r.warnings.length ? ` (${r.warnings[0]})` : ''}`);
    }
    const cause = enforcement === 'required'
      ? `created before the namespace was labelled ${INJECTION_LABEL}=required (an outage refuses pods there)`
      : 'created during a webhook outage (failurePolicy Ignore) or before the namespace was labelled';
    return found('not-injected', `namespace ${namespace} is labelled ${INJECTION_LABEL}=${enforcement} but the pod has no ${STATUS}: ${cause}`);
  }

  const recorded = sidecarsOfStatus(status);
  if ('problem' in recorded) return found('status-mismatch', recorded.problem);
  const present = new Set([...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map((c) => c.name));
  const missing = recorded.names.filter((n) => !present.has(n));
  if (missing.length) {
    return found('status-mismatch', `${STATUS} records ${recorded.names.join(', ')} but the pod has no container ${missing.join(', ')} (was ${STATUS} copied into the pod template?)`, missing);
  }

  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  const crashing: string[] = [];
  const notReady: string[] = [];
  const details: string[] = [];
  for (const n of recorded.names) {
    const s = statuses.find((x) => x.name === n);
    if (!s) continue;
    const waiting = s.state?.waiting;
    const last = s.lastState?.terminated;
    const lastText = last ? `, last exit ${last.reason ?? 'unknown'} (code ${last.exitCode ?? '?'})` : '';
    if (waiting?.reason === 'CrashLoopBackOff') {
      crashing.push(n);
      details.push(`${n} is in CrashLoopBackOff after ${s.restartCount ?? 0} restarts${lastText}`);
    } else if (waiting && !STARTING.has(waiting.reason ?? '')) {
      notReady.push(n);
      details.push(`${n} is waiting: ${waiting.reason ?? 'unknown'}${waiting.message ? ` (${waiting.message})` : ''}`);
    } else if (phase === 'Running' && s.state?.terminated) {
      notReady.push(n);
      details.push(`${n} has terminated: ${s.state.terminated.reason ?? 'unknown'} (code ${s.state.terminated.exitCode ?? '?'})`);
    } else if (phase === 'Running' && s.state?.running && s.ready === false) {
      notReady.push(n);
      details.push(`${n} is running but not ready${lastText}`);
    }
  }
  if (crashing.length) return found('sidecar-crash-looping', details.join('; '), crashing);
  if (notReady.length) return found('sidecar-not-ready', details.join('; '), notReady);
  return undefined;
}

/** The workload that owns a pod, followed up the controller chain. */
export interface Workload {
  readonly kind: string;
  readonly name: string;
}

/** The `ownerReferences` of an object, or undefined when it cannot be read. */
export type OwnerLookup = (kind: string, namespace: string, name: string) => Promise<OwnerReference[] | undefined>;

/** Kinds whose owner sidelog follows: ReplicaSet -> Deployment, Job -> CronJob. */
const FOLLOW: Readonly<Record<string, string>> = { ReplicaSet: 'Deployment', Job: 'CronJob' };

function controllerOf(refs: readonly OwnerReference[] | undefined): OwnerReference | undefined {
  return refs?.find((r) => r.controller) ?? refs?.[0];
}

/** The top workload of a pod (ReplicaSet -> Deployment, Job -> CronJob), or undefined for a bare pod. */
export async function owningWorkload(pod: LivePod, lookup: OwnerLookup): Promise<Workload | undefined> {
  const namespace = pod.metadata?.namespace ?? 'default';
  let ref = controllerOf(pod.metadata?.ownerReferences);
  if (!ref) return undefined;
  let workload: Workload = { kind: ref.kind, name: ref.name };
  while (FOLLOW[workload.kind]) {
    const parent = controllerOf(await lookup(workload.kind, namespace, workload.name));
    if (!parent || parent.kind !== FOLLOW[workload.kind]) break;
    ref = parent;
    workload = { kind: parent.kind, name: parent.name };
  }
  return workload;
}

/**
 * Owners told from the pod alone, without reading the API: a Deployment's ReplicaSet is named
 * `<deployment>-<pod-template-hash>` and its pods carry that hash as a label. (The in-server auditor
 * uses this so that its RBAC stays pods, namespaces and events.)
 */
export function inferredOwners(pod: LivePod): OwnerLookup {
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  return async (kind, _namespace, name) => {
    if (kind === 'ReplicaSet' && hash && name.endsWith(`-${hash}`)) return [{ kind: 'Deployment', name: name.slice(0, -hash.length - 1), controller: true }];
    return undefined;
  };
}

const RESTARTABLE: Readonly<Record<string, string>> = { Deployment: 'deployment', StatefulSet: 'statefulset', DaemonSet: 'daemonset' };

/** How to get the pod recreated (the webhook only sees pods when they are created). */
function recreate(f: Finding, owner: Workload | undefined): string {
  const ns = `-n ${f.namespace}`;
  if (!owner) return `recreate the pod from its manifest: kubectl delete pod ${f.pod} ${ns} && kubectl apply -f POD.yaml`;
  const kind = RESTARTABLE[owner.kind];
  if (kind) return `kubectl rollout restart ${kind}/${owner.name} ${ns}`;
  if (owner.kind === 'CronJob') return `the next run of cronjob/${owner.name} gets its sidecars (now: kubectl create job --from=cronjob/${owner.name} ${owner.name}-rerun ${ns})`;
  if (owner.kind === 'Job') return `the Job's pods are not recreated: delete and re-apply job/${owner.name} ${ns}`;
  return `kubectl delete pod ${f.pod} ${ns} (its controller ${owner.kind}/${owner.name} recreates it)`;
}

/** The fix, as a command or a sentence. */
export function fixFor(f: Finding, owner: Workload | undefined): string {
  const where = owner ? `${owner.kind.toLowerCase()}/${owner.name}` : `pod ${f.pod}`;
  switch (f.reason) {
    case 'namespace-not-labelled':
      return `kubectl label namespace ${f.namespace} ${INJECTION_LABEL}=enabled, then ${recreate(f, owner)}`;
    case 'opted-out':
      return `remove ${INJECT} from ${where} (or ${STREAMS}, if the opt-out is meant), then ${recreate(f, owner)}`;
    case 'not-injected':
      return recreate(f, owner);
    case 'not-injectable':
      return `fix the annotations of ${where} (check with: sidelog preview -f MANIFEST --policy POLICY), then ${recreate(f, owner)}`;
    case 'status-mismatch':
      return `remove ${STATUS} from the pod template of ${where}, then ${recreate(f, owner)}`;
    case 'sidecar-crash-looping':
    case 'sidecar-not-ready':
      return `kubectl describe pod ${f.pod} -n ${f.namespace}; kubectl logs ${f.pod} -c ${f.containers?.[0] ?? AGENT_CONTAINER} -n ${f.namespace} --previous`;
  }
}
