/**
 * Dual-stack listening (issue 8): by default (`--host ::`) both listeners answer over IPv6 and
 * IPv4, so the webhook and its probes work on IPv4-only, IPv6-only and dual-stack clusters. Over
 * real TLS, on ::1 and on 127.0.0.1.
 */
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../webhook/config.js';
import { listen } from '../../webhook/listen.js';
import { type TestServer, admissionReview, client, decodePatch, startTestServer } from './client.js';

const pod = { metadata: { annotations: { 'sidelog.io/streams': '- path: /var/log/a/a.log' } }, spec: { containers: [{ name: 'a', image: 'a' }] } };

it('listens on :: by default', () => {
  expect(loadConfig({}, {}).host).toBe('::');
});

describe('with the default host', () => {
  let server: TestServer;
  beforeAll(async () => {
    // startTestServer pins 127.0.0.1 unless told otherwise: undo that to take the default.
    server = await startTestServer({ host: undefined });
  });
  afterAll(async () => {
    await server.close();
  });

  it.each(['::1', '127.0.0.1'])('answers /mutate, the probes, /preview and /metrics over %s', async (host) => {
    const webhook = client(server.running.port, server.ca, { host });
    const preview = client(server.running.previewPort, server.ca, { host });
    try {
      const review = await webhook.post('/mutate', JSON.stringify(admissionReview(pod, { uid: `over-${host}` })));
      expect(review.status).toBe(200);
      expect(review.json.response.uid).toBe(`over-${host}`);
      expect(decodePatch(review.json).length).toBeGreaterThan(0);
      expect((await webhook.get('/healthz')).json).toEqual({ status: 'ok' });
      expect((await webhook.get('/readyz')).status).toBe(200);
      const previewed = await preview.post('/preview?namespace=team-a', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...pod, metadata: { name: 'p', ...pod.metadata } }));
      expect(previewed.status).toBe(200);
      expect((await preview.get('/metrics')).text).toContain('sidelog_requests_total');
    } finally {
      webhook.close();
      preview.close();
    }
  });

  it('is one socket per listener, bound to :: with IPv4 mapped', () => {
    for (const app of [server.running.app, server.running.previewApp]) {
      const address = app.server.address();
      expect(typeof address === 'object' && address ? [address.address, address.family] : address).toEqual(['::', 'IPv6']);
    }
  });
});

describe('where the node has no IPv6', () => {
  it('falls back to 0.0.0.0 (and says so); other errors stay errors', async () => {
    const calls: unknown[] = [];
    const warnings: string[] = [];
    const fake = (failure: string) =>
      ({
        listen: async (opts: { host: string }) => {
          calls.push(opts);
          if (opts.host === '::') throw Object.assign(new Error(`listen ${failure} ::`), { code: failure });
        },
        server: { address: () => ({ address: '0.0.0.0', family: 'IPv4', port: 8443 }) },
        log: { warn: (_o: object, m: string) => warnings.push(m) },
      }) as unknown as FastifyInstance;
    expect(await listen(fake('EAFNOSUPPORT'), 8443, '::')).toBe(8443);
    expect(calls).toEqual([{ port: 8443, host: '::', ipv6Only: false }, { port: 8443, host: '0.0.0.0' }]);
    expect(warnings[0]).toContain('IPv4 only');
    await expect(listen(fake('EADDRINUSE'), 8443, '::')).rejects.toThrow('EADDRINUSE');
  });
});
