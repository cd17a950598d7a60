/**
 * `sidelog certs` against a local API server: the exact requests, idempotence, races, conflicts,
 * rotation without a failed handshake, outages; then end to end: certs, serve with the issued
 * certificate, an AdmissionReview verified with the CA taken from the caBundle.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { certInfo, signedBy } from '../../certs/issue.js';
import { type EnsureOptions, ensureCerts, splitPems } from '../../certs/rotate.js';
import { loadConfig } from '../../webhook/config.js';
import { kubeCertStore } from '../../webhook/k8s/cert-store.js';
import { discoverKubeVersion } from '../../webhook/k8s/version.js';
import { startServer } from '../../webhook/main.js';
import { admissionReview, client, decodePatch } from '../http/client.js';
import { type FakeApi, startFakeApi } from './fake-api.js';

const ROOT = resolve(import.meta.dirname, '../..');
const OPTS: EnsureOptions = { namespace: 'sidelog', service: 'sidelog', secret: 'sidelog-tls', caSecret: 'sidelog-ca', webhook: 'sidelog' };
const DAY = 24 * 3600 * 1000;
const SECRETS = '/api/v1/namespaces/sidelog/secrets';
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/sidelog';

let api: FakeApi;
let kc: KubeConfig;
beforeEach(async () => {
  api = await startFakeApi();
  kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfig);
});
afterEach(async () => {
  await api.close();
});

const store = () => kubeCertStore(kc, 'sidelog');
const calls = () => api.requests.map((r) => `${r.method} ${r.path}`);
const secret = (name: string, key: string) => Buffer.from(api.secrets.get(`sidelog/${name}`)!.data[key], 'base64').toString('utf8');
const bundles = () => api.webhooks.get('sidelog')!.webhooks.map((w: { clientConfig: { caBundle?: string } }) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8'));

describe('sidelog certs ensure', () => {
  it('issues CA, caBundle and serving certificate in that order, with exactly these requests', async () => {
    const report = await ensureCerts(store(), OPTS);
    expect(report).toMatchObject({ ca: 'created', caBundle: 'updated', serving: 'created', attempts: 1 });
    expect(calls()).toEqual([`GET ${SECRETS}/sidelog-ca`, `POST ${SECRETS}`, `GET ${MWC}`, `PUT ${MWC}`, `GET ${SECRETS}/sidelog-tls`, `POST ${SECRETS}`]);
    expect(api.requests[1]!.body.metadata).toMatchObject({ name: 'sidelog-ca', labels: { 'app.kubernetes.io/managed-by': 'sidelog-certs' } });
    expect(api.requests[5]!.body).toMatchObject({ type: 'kubernetes.io/tls', metadata: { name: 'sidelog-tls' } });
    expect(api.requests[3]!.body.metadata.resourceVersion).toBe(api.requests[3]!.body.metadata.resourceVersion);
    const ca = secret('sidelog-ca', 'ca.crt');
    const tls = secret('sidelog-tls', 'tls.crt');
    expect(signedBy(tls, ca)).toBe(true);
    expect(secret('sidelog-tls', 'ca.crt')).toBe(ca);
    expect(certInfo(tls).subjectAltName).toBe('DNS:sidelog, DNS:sidelog.sidelog, DNS:sidelog.sidelog.svc, DNS:sidelog.sidelog.svc.cluster.local');
    expect(bundles()).toEqual([`${ca.trim()}\n`, `${ca.trim()}\n`]);
  });

  it('changes nothing on a second run (reads only)', async () => {
    await ensureCerts(store(), OPTS);
    api.requests.length = 0;
    const report = await ensureCerts(store(), OPTS);
    expect(report).toMatchObject({ ca: 'kept', caBundle: 'kept', serving: 'kept' });
    expect(calls()).toEqual([`GET ${SECRETS}/sidelog-ca`, `GET ${MWC}`, `GET ${SECRETS}/sidelog-tls`]);
  });

  it('ends with one consistent CA, bundle and certificate when several runs race', async () => {
    const reports = await Promise.all([1, 2, 3, 4].map(() => ensureCerts(store(), OPTS)));
    expect(reports.filter((r) => r.ca === 'created')).toHaveLength(1);
    const ca = secret('sidelog-ca', 'ca.crt');
    expect(signedBy(secret('sidelog-tls', 'tls.crt'), ca)).toBe(true);
    for (const b of bundles()) expect(splitPems(b)[0]!.trim()).toBe(ca.trim());
    expect(api.requests.some((r) => r.method === 'POST' || r.method === 'PUT')).toBe(true);
  });

  it('re-reads and decides again after a 409', async () => {
    api.failNext('PUT', /mutatingwebhookconfigurations/, 409);
    const report = await ensureCerts(store(), OPTS);
    expect(report.attempts).toBe(2);
    expect(calls().filter((c) => c === `PUT ${MWC}`)).toHaveLength(2);
    expect(signedBy(secret('sidelog-tls', 'tls.crt'), splitPems(bundles()[0]!)[0]!)).toBe(true);
  });

  it('renews the serving certificate before it expires, keeping the CA and bundle', async () => {
    await ensureCerts(store(), OPTS);
    const before = secret('sidelog-tls', 'tls.crt');
    api.requests.length = 0;
    const report = await ensureCerts(store(), { ...OPTS, now: new Date(Date.now() + 340 * DAY) });
    expect(report).toMatchObject({ ca: 'kept', caBundle: 'kept', serving: 'rotated' });
    expect(calls()).toEqual([`GET ${SECRETS}/sidelog-ca`, `GET ${MWC}`, `GET ${SECRETS}/sidelog-tls`, `PUT ${SECRETS}/sidelog-tls`]);
    expect(secret('sidelog-tls', 'tls.crt')).not.toBe(before);
  });

  it('rotates the CA with the old one kept in the bundle, so certificates of either verify', async () => {
    await ensureCerts(store(), OPTS);
    const oldCa = secret('sidelog-ca', 'ca.crt');
    const oldTls = secret('sidelog-tls', 'tls.crt');
    const report = await ensureCerts(store(), { ...OPTS, forceCa: true });
    expect(report).toMatchObject({ ca: 'rotated', caBundle: 'updated', serving: 'rotated' });
    const newCa = secret('sidelog-ca', 'ca.crt');
    const pems = splitPems(bundles()[0]!).map((p) => p.trim());
    expect(pems).toEqual([newCa.trim(), oldCa.trim()]);
    expect(signedBy(secret('sidelog-tls', 'tls.crt'), newCa)).toBe(true);
    expect(signedBy(oldTls, oldCa)).toBe(true);
    // The bundle was written before the new certificate.
    const order = calls();
    expect(order.indexOf(`PUT ${MWC}`)).toBeLessThan(order.lastIndexOf(`PUT ${SECRETS}/sidelog-tls`));
  });

  it('fails with one line and writes nothing while the API server is down', async () => {
    api.down = true;
    await expect(ensureCerts(store(), OPTS)).rejects.toThrow(/^reading Secret sidelog\/sidelog-ca: HTTP 503$/);
    expect(api.secrets.size).toBe(0);
    expect(bundles()).toEqual(['', '']);
  });

  it('names the missing webhook configuration', async () => {
    await expect(ensureCerts(store(), { ...OPTS, webhook: 'nope' })).rejects.toThrow(/^reading MutatingWebhookConfiguration nope: HTTP 404$/);
  });
});

describe('Kubernetes version discovery', () => {
  it('reads /version', async () => {
    api.gitVersion = 'v1.28.9-eks-036c24b';
    expect(await discoverKubeVersion(kc)).toBe('v1.28.9-eks-036c24b');
  });

  it('starts with classic sidecars and a log line when the API is unreachable', async () => {
    api.down = true;
    const certDir = mkdtempSync(join(tmpdir(), 'sidelog-disc-'));
    const running = await startServer(loadConfig({ port: 0, host: '127.0.0.1', certDir, logLevel: 'silent' }, {}), { discoverVersion: () => discoverKubeVersion(kc) });
    try {
      const { readFileSync } = await import('node:fs');
      const c = client(running.port, readFileSync(running.caFile!, 'utf8'));
      const pod = { metadata: { annotations: { 'sidelog.io/streams': '- path: /var/log/a/a.log' } }, spec: { containers: [{ name: 'a', image: 'a' }] } };
      const res = await c.post('/mutate', JSON.stringify(admissionReview(pod)));
      expect(decodePatch(res.json).some((op: { path: string }) => op.path === '/spec/containers/1')).toBe(true);
      c.close();
    } finally {
      await running.close();
    }
  });
});

describe('end to end: certs, serve, admission', () => {
  it('serves with the issued certificate, verified with the CA from the caBundle', async () => {
    // Asynchronously: the fake API server answers from this very process.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      execFile(process.execPath, [join(ROOT, 'bin/sidelog.js'), 'certs', 'ensure', '--namespace', 'sidelog'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, KUBECONFIG: api.kubeconfig }, timeout: 30000 }, (err, stdout, stderr) =>
        done({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ca: 'created', caBundle: 'updated', serving: 'created' });

    const dir = mkdtempSync(join(tmpdir(), 'sidelog-e2e-'));
    writeFileSync(join(dir, 'tls.crt'), secret('sidelog-tls', 'tls.crt'));
    writeFileSync(join(dir, 'tls.key'), secret('sidelog-tls', 'tls.key'));
    const running = await startServer(loadConfig({ port: 0, host: '127.0.0.1', tlsCert: join(dir, 'tls.crt'), tlsKey: join(dir, 'tls.key'), logLevel: 'silent', kubeVersion: '1.30' }, {}));
    const caFromBundle = bundles()[0]!;
    // The API server reaches the Service by its DNS name; here that name points at localhost.
    const { request } = await import('node:https');
    try {
      const body = JSON.stringify(admissionReview({ metadata: { annotations: { 'sidelog.io/streams': '- path: /var/log/a/a.log' } }, spec: { containers: [{ name: 'a', image: 'a' }] } }));
      const res = await new Promise<{ status: number; json: any }>((resolvePromise, reject) => {
        const req = request(
          { host: '127.0.0.1', port: running.port, path: '/mutate', method: 'POST', ca: caFromBundle, servername: 'sidelog.sidelog.svc', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res2) => {
            let t = '';
            res2.on('data', (d: Buffer) => (t += d.toString()));
            res2.on('end', () => resolvePromise({ status: res2.statusCode ?? 0, json: JSON.parse(t) }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect(res.status).toBe(200);
      expect(res.json.response.patchType).toBe('JSONPatch');
    } finally {
      await running.close();
    }
  });

  it('fails with one line when there is no cluster to talk to', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/sidelog.js'), 'certs', 'ensure'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, KUBECONFIG: join(tmpdir(), 'no-such-kubeconfig'), KUBERNETES_SERVICE_HOST: '' }, timeout: 30000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^sidelog certs: /);
  });
});
