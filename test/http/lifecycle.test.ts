/**
 * The server's life: certificate rotation under traffic, graceful SIGTERM with a request in
 * flight, thousands of concurrent reviews, and the command line's start-up errors.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { certInfo, issueCa, issueServing } from '../../certs/issue.js';
import { loadCases, podOf, runPreview } from '../golden/harness.js';
import { admissionReview, client, decodePatch, startTestServer } from './client.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/sidelog.js');
const cases = loadCases();
const sample = cases.find((c) => c.name === 'mixed-native')!;

function writeAtomic(file: string, text: string) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

describe('certificate rotation', () => {
  it('serves the new certificate without a restart and fails no request meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sidelog-rot-'));
    const ca1 = await issueCa({ commonName: 'ca-1' });
    const ca2 = await issueCa({ commonName: 'ca-2' });
    const first = await issueServing({ ca: ca1, dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const second = await issueServing({ ca: ca2, dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    writeAtomic(certFile, first.cert);
    writeAtomic(keyFile, first.key);
    const server = await startTestServer({ tlsCert: certFile, tlsKey: keyFile }, ca1.cert);
    const keepAlive = client(server.running.port, [ca1.cert, ca2.cert], { keepAlive: true, maxSockets: 4 });
    const fresh = client(server.running.port, [ca1.cert, ca2.cert], { keepAlive: false });
    const body = JSON.stringify(admissionReview(podOf(sample.input)));
    let failures = 0;
    let done = 0;
    let stop = false;
    const seen = new Set<string>();
    const loop = async (c: typeof keepAlive) => {
      while (!stop) {
        try {
          const res = await c.post('/mutate', body);
          if (res.status !== 200 || res.json.response.patchType !== 'JSONPatch') failures++;
          if (res.fingerprint) seen.add(res.fingerprint);
        } catch {
          failures++;
        }
        done++;
      }
    };
    const loops = [loop(keepAlive), loop(keepAlive), loop(fresh), loop(fresh)];
    try {
      await new Promise((r) => setTimeout(r, 300));
      // The kubelet swaps the whole Secret at once; here the key lands a moment after the certificate.
      writeAtomic(certFile, second.cert);
      await new Promise((r) => setTimeout(r, 30));
      writeAtomic(keyFile, second.key);
      const newPrint = certInfo(second.cert).fingerprint256;
      const until = Date.now() + 5000;
      while (!seen.has(newPrint) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
      await new Promise((r) => setTimeout(r, 200));
      stop = true;
      await Promise.all(loops);
      expect(seen).toContain(certInfo(first.cert).fingerprint256);
      expect(seen).toContain(newPrint);
      expect(done).toBeGreaterThan(50);
      expect(failures).toBe(0);
      // The preview listener serves the new certificate too.
      const previewClient = client(server.running.previewPort, [ca1.cert, ca2.cert], { keepAlive: false });
      const metrics = await previewClient.get('/metrics');
      previewClient.close();
      expect(metrics.fingerprint).toBe(newPrint);
      const expiry = Number(/^sidelog_certificate_expiry_seconds (\S+)$/m.exec(metrics.text)?.[1]);
      expect(Math.abs(expiry - (certInfo(second.cert).notAfter.getTime() - Date.now()) / 1000)).toBeLessThan(60);
    } finally {
      stop = true;
      keepAlive.close();
      fresh.close();
      await server.close();
    }
  });
});

describe('concurrency', () => {
  it('answers thousands of concurrent reviews, each matched to its uid', async () => {
    const server = await startTestServer({ policy: join(ROOT, 'test/golden/policy.yaml'), kubeVersion: '1.30' });
    const variants = ['mixed-native', 'fb-output-kafka-logs', 'streaming-single', 'skip-no-annotation', 'fd-output-loki']
      .map((name) => cases.find((c) => c.name === name)!)
      .map((c) => ({ pod: podOf(c.input), ns: c.namespace, expected: runPreview(c) }));
    const many = client(server.running.port, server.ca, { keepAlive: true, maxSockets: 64 });
    try {
      const total = 3000;
      const results = await Promise.all(
        Array.from({ length: total }, async (_, i) => {
          const v = variants[i % variants.length]!;
          const uid = `req-${i}`;
          const res = await many.post('/mutate', JSON.stringify(admissionReview(v.pod, { uid, namespace: v.ns })));
          const applied = fastJsonPatch.applyPatch(structuredClone(v.pod), decodePatch(res.json), true, false).newDocument;
          return res.status === 200 && res.json.response.uid === uid && JSON.stringify(applied) === JSON.stringify(podOf(v.expected.mutated));
        }),
      );
      expect(results.filter((ok) => !ok)).toHaveLength(0);
      expect(results).toHaveLength(total);
    } finally {
      many.close();
      await server.close();
    }
  });
});

/** Start `sidelog serve` as a child process; resolves with the port it printed. */
function serveChild(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; port: number; ca: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, env: { ...process.env, SIDELOG_LOG_LEVEL: 'warn' } });
  let err = '';
  return new Promise((resolvePromise, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving on https:\/\/localhost:(\d+) with a self-signed certificate \(CA: (.+)\)/.exec(err);
      if (m) resolvePromise({ child, port: Number(m[1]), ca: readFileSync(m[2]!, 'utf8'), stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
}

describe('sidelog serve (the command)', () => {
  it('finishes a request in flight on SIGTERM, refuses new connections, exits 0', async () => {
    const certDir = mkdtempSync(join(tmpdir(), 'sidelog-term-'));
    const { child, port, ca } = await serveChild(['--port', '0', '--preview-port', '0', '--host', '127.0.0.1', '--cert-dir', certDir]);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const body = Buffer.from(JSON.stringify(admissionReview(podOf(sample.input), { namespace: 'team-a' })));
    const half = Math.floor(body.length / 2);
    const response = new Promise<{ status: number; json: any }>((resolvePromise, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.write(body.subarray(0, half));
      setTimeout(() => {
        child.kill('SIGTERM');
        setTimeout(() => req.end(body.subarray(half)), 500);
      }, 200);
    });
    const res = await response;
    expect(res.status).toBe(200);
    expect(res.json.response.allowed).toBe(true);
    expect(await exited).toBe(0);
    const refused = await new Promise<string>((r) => {
      const req = request({ host: '127.0.0.1', port, path: '/healthz', ca, servername: 'localhost' }, () => r('answered'));
      req.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
      req.end();
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it.each([
    [['--policy', 'test/golden/cases/mixed-native/input.yaml'], /^sidelog serve: test\/golden\/cases\/mixed-native\/input\.yaml: (apiVersion|kind|metadata|spec): unknown field/],
    [['--policy', 'no/such/policy.yaml'], /^sidelog serve: no\/such\/policy\.yaml: cannot read \(no such file\)$/],
    [['--tls-cert', 'no/such.crt', '--tls-key', 'no/such.key'], /^sidelog serve: no\/such\.crt: cannot read the certificate \(ENOENT\)$/],
    [['--tls-cert', 'package.json', '--tls-key', 'package.json'], /^sidelog serve: package\.json: not a PEM certificate$/],
    [['--tls-cert', 'x.crt'], /^sidelog serve: configuration: --tls-key \(SIDELOG_TLS_KEY\): --tls-cert and --tls-key go together$/],
    [['--port', 'http'], /^sidelog serve: configuration: --port \(SIDELOG_PORT\): Invalid input: expected number, received NaN/],
    // A preview process holds ~16 MB of heap once loaded on Node.js 24: a smaller heap could run no preview.
    [['--preview-heap-mb', '16'], /^sidelog serve: configuration: --preview-heap-mb \(SIDELOG_PREVIEW_HEAP_MB\): Too small: expected number to be >=32$/],
    [['--kube-version', 'latest', '--log-level', 'loud'], /^sidelog serve: configuration: --kube-version \(SIDELOG_KUBE_VERSION\): must look like 1\.30; --log-level \(SIDELOG_LOG_LEVEL\): Invalid option: expected one of/],
  ])('refuses %j with one line naming the problem and a non-zero exit', (args, message) => {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--port', '0', '--preview-port', '0', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(message);
  });
});
