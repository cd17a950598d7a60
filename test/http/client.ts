/**
 * Test client and server: a real sidelog server listening on port 0 over real TLS, and an HTTPS
 * client that verifies the server certificate against the CA the server generated (or was given).
 */
import { Agent, request } from 'node:https';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { loadConfig } from '../../webhook/config.js';
import { type Running, startServer } from '../../webhook/main.js';

export interface Response {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: any;
  /** SHA-256 fingerprint of the certificate the server presented. */
  readonly fingerprint?: string;
}

export interface Client {
  post(path: string, body: string | Buffer, contentType?: string): Promise<Response>;
  get(path: string): Promise<Response>;
  close(): void;
}

export function client(port: number, ca: string | string[], opts: { keepAlive?: boolean; maxSockets?: number; host?: string; headers?: Record<string, string> } = {}): Client {
  const agent = new Agent({ keepAlive: opts.keepAlive ?? true, maxSockets: opts.maxSockets ?? 16, ca });
  const host = opts.host ?? 'localhost';
  const send = (method: string, path: string, body?: string | Buffer, contentType?: string) =>
    new Promise<Response>((resolve, reject) => {
      const req = request(
        { host, port, path, method, agent, servername: 'localhost', headers: { ...(body !== undefined ? { 'content-type': contentType ?? 'application/json', 'content-length': Buffer.byteLength(body) } : {}), ...opts.headers } },
        (res) => {
          const chunks: Buffer[] = [];
          const fingerprint = (res.socket as TLSSocket).getPeerCertificate?.()?.fingerprint256;
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, ...(fingerprint ? { fingerprint } : {}) });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  return {
    post: (path, body, contentType) => send('POST', path, body, contentType),
    get: (path) => send('GET', path),
    close: () => agent.destroy(),
  };
}

export interface TestServer {
  readonly running: Running;
  readonly ca: string;
  /** A client of the webhook listener (/mutate, probes). */
  readonly client: Client;
  /** A client of the preview listener (/preview, /metrics). */
  readonly preview: Client;
  close(): Promise<void>;
}

/** Start a real server (self-signed unless tls files are given) on an ephemeral port. */
export async function startTestServer(flags: Record<string, unknown> = {}, ca?: string): Promise<TestServer> {
  const certDir = mkdtempSync(join(tmpdir(), 'sidelog-test-'));
  const config = loadConfig({ port: 0, previewPort: 0, host: '127.0.0.1', certDir, logLevel: 'silent', watchInterval: 50, ...flags }, {});
  const running = await startServer(config);
  const caPem = ca ?? readFileSync(running.caFile!, 'utf8');
  const c = client(running.port, caPem);
  const p = client(running.previewPort, caPem);
  return {
    running,
    ca: caPem,
    client: c,
    preview: p,
    close: async () => {
      c.close();
      p.close();
      await running.close();
    },
  };
}

/** An AdmissionReview for a pod CREATE. */
export function admissionReview(object: unknown, opts: { uid?: string; namespace?: string; apiVersion?: string; operation?: string; kind?: string; dryRun?: boolean } = {}) {
  return {
    apiVersion: opts.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: opts.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: opts.kind ?? 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: opts.kind ?? 'Pod' },
      namespace: opts.namespace ?? 'team-a',
      operation: opts.operation ?? 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object,
      oldObject: null,
      dryRun: opts.dryRun ?? false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

export function decodePatch(review: { response: { patch?: string } }): any[] {
  return review.response.patch ? JSON.parse(Buffer.from(review.response.patch, 'base64').toString('utf8')) : [];
}
