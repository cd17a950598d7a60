/**
 * The in-server auditor (opt-in: `serve --audit`, SIDELOG_AUDIT=true). It watches pods and
 * namespaces with informers, keeps the finding of every pod in a labelled namespace
 * (webhook/inject/audit.ts), exports their count as
 * `sidelog_pods_missing_sidecars{namespace,reason}` and records a Warning Event on each affected pod.
 *
 * - Only namespaces labelled sidelog.io/injection=enabled|required are audited; a namespace that
 *   loses its label drops its pods from the gauge, one that gains it has its pods audited.
 * - The gauge follows add, update and delete events (and the informer's re-list), so a series is
 *   exactly the number of pods with that finding now; a series at zero is removed.
 * - Events: one per pod and reason (never repeated while the finding stays the same), none for
 *   `opted-out` (the pod's own choice), and at most EVENT_BURST at once and EVENTS_PER_MINUTE
 *   after that across the cluster (a token bucket). Events over the rate wait for the next token
 *   (checked every EVENT_RETRY_MS); an Event that fails is tried again the same way.
 * - Owners are told from the pod alone (inferredOwners), so the RBAC stays: list/watch pods and
 *   namespaces, create events.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { type Finding, type LivePod, auditPod, enforcementOf, fixFor, inferredOwners, owningWorkload } from '../inject/audit.js';
import type { KubeVersion } from '../core/kube-version.js';
import type { Policy } from '../core/policy.js';
import { RegexEngineNotLoaded, loadRegexEngine } from '../core/regex.js';
import type { PodEvent } from '../k8s/cluster.js';
import type { KubeTarget } from '../k8s/kubeconfig.js';

export const EVENT_BURST = 10;
export const EVENTS_PER_MINUTE = 10;
export const EVENT_RETRY_MS = 6000;

export interface AuditorDeps {
  readonly registry: Registry;
  /** The policy in force (tells `not-injectable` from `not-injected`). */
  readonly policy?: () => Policy;
  readonly kubeVersion?: () => KubeVersion | undefined;
  readonly record: (e: PodEvent) => Promise<void>;
  readonly log: { warn(o: object, m: string): void; info(o: object, m: string): void };
  /** Milliseconds; injectable for tests. */
  readonly now?: () => number;
}

type Ns = { metadata?: { name?: string; labels?: Record<string, string> } };

export interface Auditor {
  upsertPod(pod: LivePod): void;
  removePod(pod: LivePod): void;
  upsertNamespace(ns: Ns): void;
  removeNamespace(ns: Ns): void;
  /** Record the Events that are due and allowed by the rate. */
  flush(): Promise<void>;
  /** Current findings, by `namespace/pod`. */
  findings(): ReadonlyMap<string, Finding>;
  /** Record no more Events; resolves when the Event being written is done. */
  close(): Promise<void>;
}

const keyOf = (p: LivePod) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
const eventReason = (r: string) => `Sidelog${r.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase())}`;

export function createAuditor(deps: AuditorDeps): Auditor {
  const now = deps.now ?? Date.now;
  const gauge = new Gauge({
    name: 'sidelog_pods_missing_sidecars',
    help: 'Pods in labelled namespaces whose sidelog.io/streams ask for sidecars they do not have (or that do not run), by namespace and reason (serve --audit).',
    labelNames: ['namespace', 'reason'],
    registers: [deps.registry],
  });
  const events = new Counter({
    name: 'sidelog_audit_events_total',
    help: 'Kubernetes Events the auditor recorded on pods, by result (recorded, failed, rate_limited).',
    labelNames: ['result'],
    registers: [deps.registry],
  });
  const labels = new Map<string, Readonly<Record<string, string>>>();
  /** Pods that set sidelog.io/streams, by key (the others are never kept). */
  const pods = new Map<string, LivePod>();
  const found = new Map<string, Finding>();
  const counts = new Map<string, number>();
  /** The reason each pod's Event was recorded for. */
  const recorded = new Map<string, string>();
  let tokens = EVENT_BURST;
  let refilledAt = now();
  let flushing: Promise<void> | undefined;
  let closed = false;

  const count = (f: Finding, by: 1 | -1) => {
    const k = `${f.namespace}\0${f.reason}`;
    const n = (counts.get(k) ?? 0) + by;
    if (n > 0) {
      counts.set(k, n);
      gauge.set({ namespace: f.namespace, reason: f.reason }, n);
    } else {
      counts.delete(k);
      gauge.remove({ namespace: f.namespace, reason: f.reason });
    }
  };

  const setFinding = (key: string, f: Finding | undefined) => {
    const old = found.get(key);
    if (old) count(old, -1);
    if (f) {
      found.set(key, f);
      count(f, 1);
    } else {
      found.delete(key);
    }
    if (!f || recorded.get(key) !== f.reason) recorded.delete(key);
  };

  const evaluate = (key: string) => {
    const pod = pods.get(key);
    const nsLabels = pod ? labels.get(pod.metadata?.namespace ?? '') : undefined;
    if (!pod || !nsLabels || !enforcementOf(nsLabels)) return setFinding(key, undefined);
    const policy = deps.policy?.();
    let finding: Finding | undefined;
    try {
      finding = auditPod(pod, { namespaceLabels: nsLabels, ...(policy ? { policy } : {}), kubeVersion: deps.kubeVersion?.() });
    } catch (e) {
      if (!(e instanceof RegexEngineNotLoaded)) throw e;
      // The first pod that asks for a regex loads the engine; the pod is then evaluated afresh,
      // as it is by then, so a later event for it is never overwritten by this one. Until then it
      // keeps no finding: none that could be stale is recorded meanwhile, or kept if the load fails.
      setFinding(key, undefined);
      loadRegexEngine()
        .then(
          () => {
            if (closed) return;
            evaluate(key);
            void auditor.flush();
          },
          (err: unknown) => deps.log.warn({ pod: key, error: (err as Error)?.message ?? String(err) }, 'auditor: cannot load the regex engine; the pod is not audited until its next event'),
        )
        .catch((err: unknown) => deps.log.warn({ pod: key, error: (err as Error)?.message ?? String(err) }, 'auditor: cannot evaluate the pod'));
      return;
    }
    setFinding(key, finding);
  };

  const take = (): boolean => {
    const t = now();
    tokens = Math.min(EVENT_BURST, tokens + ((t - refilledAt) * EVENTS_PER_MINUTE) / 60_000);
    refilledAt = t;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };

  const flushOnce = async () => {
    for (const [key, f] of found) {
      if (closed) return;
      if (f.reason === 'opted-out' || recorded.get(key) === f.reason) continue;
      if (!take()) {
        events.inc({ result: 'rate_limited' });
        return;
      }
      const pod = pods.get(key);
      const workload = pod ? await owningWorkload(pod, inferredOwners(pod)) : undefined;
      try {
        await deps.record({ namespace: f.namespace, pod: f.pod, uid: pod?.metadata?.uid, reason: eventReason(f.reason), message: `${f.detail}. Fix: ${fixFor(f, workload)}` });
        // The finding may have changed while the Event was written: record what was said.
        if (found.get(key)?.reason === f.reason) recorded.set(key, f.reason);
        events.inc({ result: 'recorded' });
      } catch (e) {
        events.inc({ result: 'failed' });
        deps.log.warn({ pod: key, error: (e as Error).message }, 'auditor: cannot record an Event; will retry');
      }
    }
  };

  const auditor: Auditor = {
    upsertPod(pod) {
      const key = keyOf(pod);
      if (typeof pod.metadata?.annotations?.['sidelog.io/streams'] !== 'string') {
        if (pods.delete(key)) evaluate(key);
        return;
      }
      pods.set(key, pod);
      evaluate(key);
    },
    removePod(pod) {
      const key = keyOf(pod);
      pods.delete(key);
      evaluate(key);
    },
    upsertNamespace(ns) {
      const name = ns.metadata?.name ?? '';
      labels.set(name, ns.metadata?.labels ?? {});
      for (const key of pods.keys()) if (key.startsWith(`${name}/`)) evaluate(key);
    },
    removeNamespace(ns) {
      const name = ns.metadata?.name ?? '';
      labels.delete(name);
      for (const key of pods.keys()) if (key.startsWith(`${name}/`)) evaluate(key);
    },
    flush() {
      // Never two flushes at once: each Event is written once.
      flushing ??= flushOnce().finally(() => {
        flushing = undefined;
      });
      return flushing;
    },
    findings: () => found,
    async close() {
      closed = true;
      await flushing;
    },
  };
  return auditor;
}

export interface RunningAuditor {
  readonly auditor: Auditor;
  stop(): Promise<void>;
}

/** Start the informers against the cluster (in-cluster service account by default). */
export async function startAuditor(deps: Omit<AuditorDeps, 'record'> & { kube?: KubeTarget }): Promise<RunningAuditor> {
  const { informNamespaces, informPods, loadKubeConfig, podEventRecorder } = await import('../k8s/cluster.js');
  const kc = loadKubeConfig(deps.kube);
  const auditor = createAuditor({ ...deps, record: podEventRecorder(kc) });
  let pending = false;
  const soon = () => {
    // Events are written after the current batch of informer callbacks, not one by one inside them.
    if (pending) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      void auditor.flush();
    });
  };
  const onError = (what: string) => (e: unknown, retryInMs: number) => deps.log.warn({ error: (e as Error)?.message ?? String(e), retryInMs }, `auditor: ${what} informer failed; restarting`);
  const namespaces = informNamespaces(kc, {
    upsert: (n) => (auditor.upsertNamespace(n), soon()),
    remove: (n) => (auditor.removeNamespace(n), soon()),
    error: onError('namespace'),
  });
  const pods = informPods(kc, {
    upsert: (p) => (auditor.upsertPod(p), soon()),
    remove: (p) => (auditor.removePod(p), soon()),
    error: onError('pod'),
  });
  const timer = setInterval(() => void auditor.flush(), EVENT_RETRY_MS);
  timer.unref();
  deps.log.info({ eventsPerMinute: EVENTS_PER_MINUTE, eventBurst: EVENT_BURST }, 'auditor: watching pods in labelled namespaces');
  return {
    auditor,
    async stop() {
      clearInterval(timer);
      await Promise.all([pods.stop(), namespaces.stop(), auditor.close()]);
    },
  };
}
