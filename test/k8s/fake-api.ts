/**
 * A local HTTPS server (its own CA, trusted through the kubeconfig) that speaks the few Kubernetes API endpoints sidelog uses: /version,
 * Secrets (get/create/replace with resourceVersion checks) and MutatingWebhookConfigurations
 * (get/replace). It records every request and can fail on demand (conflicts, outages).
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
  readonly body?: any;
}

type Obj = { metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown }; [k: string]: any };

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

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const path = (req.url ?? '').split('?')[0]!;
    const method = req.method ?? 'GET';
    const body = raw ? JSON.parse(raw) : undefined;
    requests.push({ method, path, ...(body !== undefined ? { body } : {}) });
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
    close: () => new Promise<void>((r) => server.close(() => r())),
  }) as FakeApi;
}
