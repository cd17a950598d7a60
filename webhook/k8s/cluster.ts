/**
 * Read-only access to the cluster for `sidelog audit` and `sidelog what-if`, and the two things the
 * in-server auditor needs (pod and namespace informers, Events), through @kubernetes/client-node.
 * Everything returned is plain JSON with `kind` set (list items come without it), so the pure core
 * never sees the client's model classes. Decisions live in webhook/inject/audit.ts and what-if.ts.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { AppsV1Api, ApiException, BatchV1Api, CoreV1Api, type CoreV1Event, KubeConfig, VersionApi, makeInformer } from '@kubernetes/client-node';
import type { LivePod, OwnerLookup, OwnerReference } from '../inject/audit.js';

export { loadKubeConfig } from './kubeconfig.js';

/** The namespace of the kubeconfig's current context (kubectl's default for -n), or `default`. */
export function contextNamespace(kc: KubeConfig): string {
  return kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
}

type Json = Record<string, any>;

function status(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

/** The API server's own message (a Status body), if any. */
function apiMessage(e: unknown): string {
  let body: unknown = e instanceof ApiException ? e.body : undefined;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return '';
    }
  }
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? `: ${message}` : '';
}

/** One line naming what was read: `listing pods in team-a: HTTP 403`. */
async function read<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const code = status(e);
    const message = apiMessage(e);
    throw new Error(`${what}: ${code !== undefined ? `HTTP ${code}${message}` : (e as Error).message}`);
  }
}

/** Plain JSON (dates as the API wrote them), with kind and apiVersion. */
function plain(obj: unknown, kind: string, apiVersion: string): Json {
  return { apiVersion, kind, ...(JSON.parse(JSON.stringify(obj)) as Json) };
}

interface Page<T> {
  items: T[];
  metadata?: { _continue?: string };
}

/** Every page of a list call (500 items per request). */
async function all<T>(what: string, list: (cont: string | undefined) => Promise<Page<T>>): Promise<T[]> {
  const out: T[] = [];
  let cont: string | undefined;
  do {
    const page = await read(what, () => list(cont));
    out.push(...page.items);
    cont = page.metadata?._continue || undefined;
  } while (cont);
  return out;
}

const LIMIT = 500;

export interface Namespace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Kinds `what-if` previews, with where they are listed. */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod'] as const;

export interface Cluster {
  namespaces(): Promise<Namespace[]>;
  namespace(name: string): Promise<Namespace | undefined>;
  /** Pods of one namespace, or of all when undefined. */
  pods(namespace?: string): Promise<LivePod[]>;
  /** Every workload of the kinds in WORKLOAD_KINDS in one namespace. */
  workloads(namespace: string): Promise<Json[]>;
  /** A ConfigMap's data, or undefined when it does not exist. */
  configMapData(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** `v1.30.2`, or undefined when the server does not say. */
  version(): Promise<string | undefined>;
  /** Owner references of ReplicaSets and Jobs, each read once (cached). */
  readonly owners: OwnerLookup;
}

export function cluster(kc: KubeConfig): Cluster {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const ownerCache = new Map<string, Promise<OwnerReference[] | undefined>>();
  const toNamespace = (n: { metadata?: { name?: string; labels?: Record<string, string> } }): Namespace => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {} });

  const readOwners = async (kind: string, namespace: string, name: string): Promise<OwnerReference[] | undefined> => {
    try {
      const obj = kind === 'ReplicaSet' ? await apps.readNamespacedReplicaSet({ name, namespace }) : kind === 'Job' ? await batch.readNamespacedJob({ name, namespace }) : undefined;
      return obj?.metadata?.ownerReferences as OwnerReference[] | undefined;
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw new Error(`reading ${kind} ${namespace}/${name}: ${status(e) !== undefined ? `HTTP ${status(e)}` : (e as Error).message}`);
    }
  };

  return {
    async namespaces() {
      return (await all('listing namespaces', (c) => core.listNamespace({ limit: LIMIT, _continue: c }))).map(toNamespace);
    },
    async namespace(name) {
      try {
        return toNamespace(await core.readNamespace({ name }));
      } catch (e) {
        if (status(e) === 404) return undefined;
        return read(`reading namespace ${name}`, () => Promise.reject(e));
      }
    },
    async pods(namespace) {
      const items = namespace === undefined
        ? await all('listing pods in all namespaces', (c) => core.listPodForAllNamespaces({ limit: LIMIT, _continue: c }))
        : await all(`listing pods in ${namespace}`, (c) => core.listNamespacedPod({ namespace, limit: LIMIT, _continue: c }));
      return items.map((p) => plain(p, 'Pod', 'v1') as LivePod);
    },
    async workloads(namespace) {
      const lists: Array<[string, string, (c: string | undefined) => Promise<Page<unknown>>]> = [
        ['Deployment', 'apps/v1', (c) => apps.listNamespacedDeployment({ namespace, limit: LIMIT, _continue: c })],
        ['StatefulSet', 'apps/v1', (c) => apps.listNamespacedStatefulSet({ namespace, limit: LIMIT, _continue: c })],
        ['DaemonSet', 'apps/v1', (c) => apps.listNamespacedDaemonSet({ namespace, limit: LIMIT, _continue: c })],
        ['ReplicaSet', 'apps/v1', (c) => apps.listNamespacedReplicaSet({ namespace, limit: LIMIT, _continue: c })],
        ['Job', 'batch/v1', (c) => batch.listNamespacedJob({ namespace, limit: LIMIT, _continue: c })],
        ['CronJob', 'batch/v1', (c) => batch.listNamespacedCronJob({ namespace, limit: LIMIT, _continue: c })],
        ['Pod', 'v1', (c) => core.listNamespacedPod({ namespace, limit: LIMIT, _continue: c })],
      ];
      const results = await Promise.all(lists.map(async ([kind, apiVersion, list]) => (await all(`listing ${kind}s in ${namespace}`, list)).map((o) => plain(o, kind, apiVersion))));
      return results.flat();
    },
    async configMapData(namespace, name) {
      try {
        return (await core.readNamespacedConfigMap({ name, namespace })).data ?? {};
      } catch (e) {
        if (status(e) === 404) return undefined;
        return read(`reading ConfigMap ${namespace}/${name}`, () => Promise.reject(e));
      }
    },
    async version() {
      return (await read('reading the server version', () => kc.makeApiClient(VersionApi).getCode())).gitVersion;
    },
    owners(kind, namespace, name) {
      const key = `${kind}/${namespace}/${name}`;
      let p = ownerCache.get(key);
      if (!p) {
        p = readOwners(kind, namespace, name);
        ownerCache.set(key, p);
      }
      return p;
    },
  };
}

/** A running informer; `stop` ends it and its restarts. */
export interface Informing {
  stop(): Promise<void>;
}

export interface InformerHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
  /** Called on every error, with the delay before the informer restarts. */
  error(e: unknown, retryInMs: number): void;
}

/** Restart delays after consecutive errors: 1 s doubling to 60 s. */
export function backoffMs(failures: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, failures - 1));
}

/**
 * A list-then-watch informer (client-node makeInformer) restarted after an error with backoff.
 * Timers are unref'd so they never keep the process alive.
 */
function inform<T extends { metadata?: object }>(kc: KubeConfig, path: string, list: () => Promise<{ items: T[]; metadata?: object }>, h: InformerHandlers<T>): Informing {
  const informer = makeInformer(kc, path, list as never);
  let failures = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const ok = (fn: (o: T) => void) => (o: T) => {
    failures = 0;
    fn(o);
  };
  informer.on('add', ok(h.upsert) as never);
  informer.on('update', ok(h.upsert) as never);
  informer.on('delete', ok(h.remove) as never);
  informer.on('error', (e?: unknown) => {
    if (stopped) return;
    failures++;
    const delay = backoffMs(failures);
    h.error(e, delay);
    // One restart pending at a time: errors in a burst must not start two watches.
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!stopped) void informer.start().catch(() => undefined);
    }, delay);
    timer.unref();
  });
  void informer.start().catch(() => undefined);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await informer.stop();
    },
  };
}

/**
 * Cut a pod down, in place, to what the auditor reads. The informer's cache holds the very object
 * its callbacks receive, so this bounds the memory of a cluster-wide pod cache: a pod that asks for
 * no streams keeps only name, namespace, uid and resourceVersion (what the cache compares); one
 * that asks keeps annotations, labels and owners, and its container names and statuses once injected
 * (its whole spec while not injected).
 */
export function slimPod(pod: LivePod): void {
  const m = pod.metadata;
  if (!m) return;
  const asks = typeof m.annotations?.['sidelog.io/streams'] === 'string';
  // New objects rather than deleted keys: V8 keeps small fresh objects compact (a deleted key
  // turns an object into a dictionary several times its size).
  pod.metadata = {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    resourceVersion: m.resourceVersion as string | undefined,
    ...(asks ? { annotations: m.annotations, labels: m.labels, ownerReferences: m.ownerReferences } : {}),
  };
  if (!asks) {
    pod.spec = undefined;
    pod.status = undefined;
    return;
  }
  // A pod never injected keeps its whole spec: the audit previews it to tell not-injectable apart.
  if (typeof m.annotations?.['sidelog.io/status'] !== 'string') return;
  const names = (cs: Array<{ name: string; restartPolicy?: string }> | undefined) => cs?.map((c) => ({ name: c.name, ...(c.restartPolicy ? { restartPolicy: c.restartPolicy } : {}) }));
  pod.spec = { containers: names(pod.spec?.containers) ?? [], ...(pod.spec?.initContainers ? { initContainers: names(pod.spec.initContainers) } : {}) };
  if (pod.status) pod.status = { phase: pod.status.phase, containerStatuses: pod.status.containerStatuses, initContainerStatuses: pod.status.initContainerStatuses };
}

export function informPods(kc: KubeConfig, h: InformerHandlers<LivePod>): Informing {
  const core = kc.makeApiClient(CoreV1Api);
  const slim = (fn: (p: LivePod) => void) => (p: LivePod) => {
    slimPod(p);
    fn(p);
  };
  // The list is read a page at a time and each page cut down before the next, so a large cluster's
  // full pod list is never in memory at once.
  const list = async () => {
    const items: LivePod[] = [];
    let resourceVersion: string | undefined;
    let cont: string | undefined;
    do {
      const page = await core.listPodForAllNamespaces({ limit: LIMIT, _continue: cont });
      for (const p of page.items as LivePod[]) slimPod(p);
      items.push(...(page.items as LivePod[]));
      resourceVersion ??= page.metadata?.resourceVersion;
      cont = page.metadata?._continue || undefined;
    } while (cont);
    return { metadata: { resourceVersion }, items };
  };
  return inform(kc, '/api/v1/pods', list as never, { ...h, upsert: slim(h.upsert), remove: slim(h.remove) });
}

export function informNamespaces(kc: KubeConfig, h: InformerHandlers<{ metadata?: { name?: string; labels?: Record<string, string> } }>): Informing {
  const core = kc.makeApiClient(CoreV1Api);
  return inform(kc, '/api/v1/namespaces', () => core.listNamespace() as never, h);
}

export interface PodEvent {
  readonly namespace: string;
  readonly pod: string;
  readonly uid?: string | undefined;
  /** CamelCase, e.g. SidecarsNotInjected. */
  readonly reason: string;
  readonly message: string;
}

/**
 * Create a Warning Event on a pod (core/v1 events: create is all it needs). The Event's name is
 * derived from the pod's uid and the reason, so the webhook's replicas, each running an auditor,
 * record one Event per pod and reason between them: the second create is refused (409) and counts
 * as recorded.
 */
export function podEventRecorder(kc: KubeConfig, now: () => Date = () => new Date()): (e: PodEvent) => Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const instance = hostname();
  return async (e) => {
    const time = now();
    const id = createHash('sha256').update(`${e.uid ?? `${e.namespace}/${e.pod}`}\0${e.reason}`).digest('hex').slice(0, 12);
    const body: CoreV1Event = {
      metadata: { name: `${e.pod.slice(0, 200)}.sidelog.${id}`, namespace: e.namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: e.pod, namespace: e.namespace, ...(e.uid ? { uid: e.uid } : {}) },
      reason: e.reason,
      message: e.message.slice(0, 1024),
      type: 'Warning',
      source: { component: 'sidelog-auditor' },
      reportingComponent: 'sidelog.io/auditor',
      reportingInstance: instance,
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
    try {
      await core.createNamespacedEvent({ namespace: e.namespace, body });
    } catch (err) {
      if (status(err) === 409) return; // another replica recorded it
      await read(`recording an Event on pod ${e.namespace}/${e.pod}`, () => Promise.reject(err));
    }
  };
}
