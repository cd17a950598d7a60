/**
 * A local HTTPS server (its own CA, trusted through the kubeconfig) that speaks the few Kubernetes API endpoints sidelog uses: /version,
 * Secrets (get/create/replace with resourceVersion checks) and MutatingWebhookConfigurations
 * (get/replace); for audit, what-if and the auditor: get, list and watch (`?watch=true`, from a
 * resourceVersion) of pods, namespaces, ConfigMaps, Events and the workload kinds, and Event
 * create. It records every request and can fail on demand (conflicts, outages).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Server, createServer } from 'node:https';
import { issueCa, issueServing } from '../../certs/issue.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Recorded {
  readonly method: string;
  readonly path: string;
  /** The query string, when there is one (`watch=true&resourceVersion=12`). */
  readonly query?: string;
  readonly body?: any;
}

export type Obj = { metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown }; [k: string]: any };

/** Resources of the generic store, by URL plural: group/version and whether namespaced. */
export const RESOURCES: Readonly<Record<string, { apiVersion: string; kind: string; namespaced: boolean }>> = {
  pods: { apiVersion: 'v1', kind: 'Pod', namespaced: true },
  namespaces: { apiVersion: 'v1', kind: 'Namespace', namespaced: false },
  configmaps: { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true },
  events: { apiVersion: 'v1', kind: 'Event', namespaced: true },
  deployments: { apiVersion: 'apps/v1', kind: 'Deployment', namespaced: true },
  statefulsets: { apiVersion: 'apps/v1', kind: 'StatefulSet', namespaced: true },
  daemonsets: { apiVersion: 'apps/v1', kind: 'DaemonSet', namespaced: true },
  replicasets: { apiVersion: 'apps/v1', kind: 'ReplicaSet', namespaced: true },
  jobs: { apiVersion: 'batch/v1', kind: 'Job', namespaced: true },
  cronjobs: { apiVersion: 'batch/v1', kind: 'CronJob', namespaced: true },
};

export interface FakeApi {
  readonly url: string;
  readonly kubeconfig: string;
  readonly requests: Recorded[];
  readonly secrets: Map<string, Obj>;
  readonly webhooks: Map<string, Obj>;
  /** The next request matching method and path gets this status (once). */
  failNext(method: string, path: RegExp, status: number): void;
  /** While true every request gets 503. */
  down: boolean;
  gitVersion: string;
  /** Create or replace an object of the generic store (resource = URL plural); open watches see ADDED or MODIFIED. */
  put(resource: string, obj: Obj): Obj;
  /** Delete an object; open watches see DELETED. */
  remove(resource: string, namespace: string | undefined, name: string): void;
  /** Objects of a resource, optionally of one namespace. */
  list(resource: string, namespace?: string): Obj[];
  /** End every open watch (as an API server does at its timeout); informers reconnect. */
  endWatches(): void;
  /** Open watch connections. */
  readonly watching: () => number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function statusBody(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export async function startFakeApi(): Promise<FakeApi> {
  const requests: Recorded[] = [];
  const secrets = new Map<string, Obj>();
  const webhooks = new Map<string, Obj>();
  const failures: Array<{ method: string; path: RegExp; status: number }> = [];
  let version = 100;
  const api = { down: false, gitVersion: 'v1.30.2' } as { down: boolean; gitVersion: string };

  // The generic store: objects by `resource/namespace/name`, every change in a log that watches replay.
  const store = new Map<string, Obj>();
  const log: Array<{ rv: number; resource: string; namespace: string; type: string; object: Obj }> = [];
  const watches = new Set<{ resource: string; namespace: string | undefined; res: ServerResponse }>();
  const keyOf = (resource: string, namespace: string | undefined, name: string) => `${resource}/${namespace ?? ''}/${name}`;
  const typed = (resource: string, o: Obj) => ({ apiVersion: RESOURCES[resource]!.apiVersion, kind: RESOURCES[resource]!.kind, ...o });
  const notify = (resource: string, type: string, object: Obj) => {
    const namespace = object.metadata.namespace ?? '';
    log.push({ rv: Number(object.metadata.resourceVersion), resource, namespace, type, object });
    for (const w of watches) {
      if (w.resource === resource && (w.namespace === undefined || w.namespace === namespace)) w.res.write(`${JSON.stringify({ type, object: typed(resource, object) })}\n`);
    }
  };
  const put = (resource: string, obj: Obj): Obj => {
    if (!RESOURCES[resource]) throw new Error(`fake API: unknown resource ${resource}`);
    const key = keyOf(resource, obj.metadata.namespace, obj.metadata.name);
    const existed = store.has(key);
    const { apiVersion: _a, kind: _k, ...rest } = obj;
    const stored = { ...rest, metadata: { ...obj.metadata, resourceVersion: String(++version), uid: (obj.metadata.uid as string | undefined) ?? `uid-${obj.metadata.name}` } } as Obj;
    store.set(key, stored);
    notify(resource, existed ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  };
  const remove = (resource: string, namespace: string | undefined, name: string) => {
    const key = keyOf(resource, namespace, name);
    const obj = store.get(key);
    if (!obj) return;
    store.delete(key);
    notify(resource, 'DELETED', { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++version) } });
  };
  const list = (resource: string, namespace?: string) => [...store.entries()].filter(([k]) => k.startsWith(`${resource}/${namespace ?? ''}`) && (namespace === undefined || k.startsWith(`${resource}/${namespace}/`))).map(([, o]) => o);

  /** GET (one, list, watch) and POST of the generic store. */
  const generic = (res: ServerResponse, method: string, resource: string, namespace: string | undefined, name: string | undefined, body: any, query: URLSearchParams) => {
    const info = RESOURCES[resource]!;
    if (method === 'GET' && name) {
      const obj = store.get(keyOf(resource, namespace, name));
      return obj ? send(res, 200, typed(resource, obj)) : send(res, 404, statusBody(404, 'NotFound', `${resource} "${name}" not found`));
    }
    if (method === 'GET' && query.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      const from = Number(query.get('resourceVersion') ?? '0');
      for (const e of log) if (e.rv > from && e.resource === resource && (namespace === undefined || e.namespace === namespace)) res.write(`${JSON.stringify({ type: e.type, object: typed(resource, e.object) })}\n`);
      const w = { resource, namespace, res };
      watches.add(w);
      // The response closes when the client goes away (the request's own 'close' comes once its body is read).
      res.on('close', () => watches.delete(w));
      return;
    }
    if (method === 'GET') {
      // Pages: `limit`, and `continue` as the offset of the next page.
      const all = list(resource, namespace);
      const limit = Number(query.get('limit') ?? '0') || all.length;
      const start = Number(query.get('continue') ?? '0');
      const more = start + limit < all.length;
      return send(res, 200, { apiVersion: info.apiVersion, kind: `${info.kind}List`, metadata: { resourceVersion: String(version), ...(more ? { continue: String(start + limit) } : {}) }, items: all.slice(start, start + limit) });
    }
    if (method === 'POST' && !name) {
      const key = keyOf(resource, namespace, body?.metadata?.name);
      if (store.has(key)) return send(res, 409, statusBody(409, 'AlreadyExists', `${resource} "${body.metadata.name}" already exists`));
      return send(res, 201, typed(resource, put(resource, { ...body, metadata: { ...body.metadata, namespace } })));
    }
    return send(res, 405, statusBody(405, 'MethodNotAllowed', `${method} ${resource} is not supported by the fake API`));
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const [path = '', search = ''] = (req.url ?? '').split('?');
    const query = new URLSearchParams(search);
    const method = req.method ?? 'GET';
    const body = raw ? JSON.parse(raw) : undefined;
    requests.push({ method, path, ...(search ? { query: search } : {}), ...(body !== undefined ? { body } : {}) });
    if (api.down) return send(res, 503, statusBody(503, 'ServiceUnavailable', 'the API server is down'));
    const f = failures.findIndex((x) => x.method === method && x.path.test(path));
    if (f >= 0) {
      const [failure] = failures.splice(f, 1);
      return send(res, failure!.status, statusBody(failure!.status, failure!.status === 409 ? 'Conflict' : 'InternalError', 'injected failure'));
    }
    if (path === '/version') return send(res, 200, { major: '1', minor: api.gitVersion.split('.')[1], gitVersion: api.gitVersion });
    let m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(path);
    if (m) {
      const [, ns, name] = m;
      const key = `${ns}/${name ?? body?.metadata?.name}`;
      if (method === 'GET' && name) return secrets.has(key) ? send(res, 200, secrets.get(key)) : send(res, 404, statusBody(404, 'NotFound', `secrets "${name}" not found`));
      if (method === 'POST' && !name) {
        if (secrets.has(key)) return send(res, 409, statusBody(409, 'AlreadyExists', `secrets "${body.metadata.name}" already exists`));
        const obj = { ...body, metadata: { ...body.metadata, namespace: ns, resourceVersion: String(++version) } };
        secrets.set(key, obj);
        return send(res, 201, obj);
      }
      if (method === 'PUT' && name) {
        const current = secrets.get(key);
        if (!current) return send(res, 404, statusBody(404, 'NotFound', 'not found'));
        if (body.metadata.resourceVersion !== current.metadata.resourceVersion) return send(res, 409, statusBody(409, 'Conflict', 'the object has been modified'));
        const obj = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
        secrets.set(key, obj);
        return send(res, 200, obj);
      }
    }
    m = /^\/apis\/admissionregistration\.k8s\.io\/v1\/mutatingwebhookconfigurations\/([^/]+)$/.exec(path);
    if (m) {
      const name = m[1]!;
      const current = webhooks.get(name);
      if (!current) return send(res, 404, statusBody(404, 'NotFound', 'not found'));
      if (method === 'GET') return send(res, 200, current);
      if (method === 'PUT') {
        if (body.metadata.resourceVersion !== current.metadata.resourceVersion) return send(res, 409, statusBody(409, 'Conflict', 'the object has been modified'));
        const obj = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
        webhooks.set(name, obj);
        return send(res, 200, obj);
      }
    }
    m = /^\/(?:api\/v1|apis\/(?:apps|batch)\/v1)\/namespaces\/([^/]+)\/([a-z]+)(?:\/([^/]+))?$/.exec(path);
    if (m && RESOURCES[m[2]!]?.namespaced && `${RESOURCES[m[2]!]!.apiVersion}` === (path.startsWith('/api/v1') ? 'v1' : path.split('/').slice(2, 4).join('/'))) {
      return generic(res, method, m[2]!, m[1], m[3], body, query);
    }
    m = /^\/(?:api\/v1|apis\/(?:apps|batch)\/v1)\/([a-z]+)(?:\/([^/]+))?$/.exec(path);
    if (m && RESOURCES[m[1]!] && method === 'GET' && (!RESOURCES[m[1]!]!.namespaced ? true : m[2] === undefined)) {
      return generic(res, method, m[1]!, undefined, m[2], body, query);
    }
    return send(res, 404, statusBody(404, 'NotFound', `no route ${method} ${path}`));
  };

  const ca = await issueCa({ commonName: 'fake-apiserver-ca' });
  const tls = await issueServing({ ca, dnsNames: ['localhost'], ips: ['127.0.0.1'] });
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  const url = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const dir = mkdtempSync(join(tmpdir(), 'sidelog-kube-'));
  const kubeconfig = join(dir, 'config');
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
    clusters: [{ name: 'fake', cluster: { server: url, 'certificate-authority-data': Buffer.from(ca.cert).toString('base64') } }],
    users: [{ name: 'tester', user: { token: 'test-token' } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester' } }],
  }));
  webhooks.set('sidelog', {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'sidelog', resourceVersion: String(++version) },
    webhooks: ['enabled.sidelog.io', 'required.sidelog.io'].map((n) => ({ name: n, clientConfig: { service: { namespace: 'sidelog', name: 'sidelog', path: '/mutate', port: 443 } }, sideEffects: 'None', admissionReviewVersions: ['v1', 'v1beta1'] })),
  });
  return Object.assign(api, {
    url,
    kubeconfig,
    requests,
    secrets,
    webhooks,
    failNext: (method: string, path: RegExp, status: number) => void failures.push({ method, path, status }),
    put,
    remove,
    list,
    endWatches: () => {
      for (const w of watches) w.res.end();
      watches.clear();
    },
    watching: () => watches.size,
    close: () =>
      new Promise<void>((r) => {
        // Refuse connections opened from now on (a client still retrying), close the open ones.
        server.on('connection', (socket) => socket.destroy());
        for (const w of watches) w.res.end();
        watches.clear();
        server.close(() => r());
        server.closeAllConnections();
      }),
  }) as FakeApi;
}
