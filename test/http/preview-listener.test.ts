/**
 * /mutate is never starved (issue 8): previews have a listener of their own, a cap of their own,
 * and run in a worker thread, so a review is answered while previews are still being worked,
 * a preview over the cap is refused at once, and a preview too big for its worker ends that
 * worker, not the server. Over real TLS.
 */
import { previewYaml } from '../bench/scenarios.js';
import { type TestServer, admissionReview, decodePatch, startTestServer } from './client.js';

const pod = { metadata: { annotations: { 'sidelog.io/streams': '- path: /var/log/a/a.log' } }, spec: { containers: [{ name: 'a', image: 'a' }] } };
const bigYaml = previewYaml(false, 0);

describe('the preview listener', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ kubeVersion: '1.30', previewWorkers: 1, maxPreviews: 3 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers /mutate while the preview listener is saturated with 1 MiB previews, and refuses previews over its cap at once', async () => {
    expect(bigYaml.length).toBeGreaterThan(900 * 1024);
    const order: string[] = [];
    const previews = [0, 1, 2].map((i) =>
      server.preview.post('/preview?namespace=team-a', bigYaml, 'application/yaml').then((res) => {
        order.push(`preview ${i}`);
        return res;
      }),
    );
    // Once the three previews have reached the server (one running, two waiting for the worker),
    // a fourth, however small, is over the cap.
    const small = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...pod, metadata: { name: 'p', ...pod.metadata } });
    let over = await server.preview.post('/preview?namespace=team-a', small);
    for (let i = 0; i < 100 && over.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      over = await server.preview.post('/preview?namespace=team-a', small);
    }
    order.push('over the cap');
    expect([over.status, over.json.error.code]).toEqual([429, 'BUSY']);
    expect(over.headers['retry-after']).toBe('1');
    const reviews = [];
    for (let i = 0; i < 5; i++) {
      const res = await server.client.post('/mutate', JSON.stringify(admissionReview(pod, { uid: `r${i}` })));
      expect(res.status).toBe(200);
      expect(res.json.response.uid).toBe(`r${i}`);
      expect(decodePatch(res.json).length).toBeGreaterThan(0);
      reviews.push(res);
    }
    order.push('5 reviews');
    const done = await Promise.all(previews);
    for (const res of done) {
      expect([res.status, res.json.error?.message]).toEqual([200, undefined]);
      expect(res.json.allowed).toBe(true);
      expect(res.json.mutated.spec.initContainers ?? res.json.mutated.spec.containers).toBeDefined();
    }
    // The reviews were answered before the previews were done: they did not wait behind them.
    expect(order.indexOf('5 reviews')).toBeLessThan(order.indexOf('preview 2'));
    expect(order.indexOf('over the cap')).toBeLessThan(order.indexOf('preview 0'));
  }, 60_000);

  it('refuses more documents than a preview takes', async () => {
    const docs = Array.from({ length: 101 }, (_, i) => `apiVersion: v1\nkind: Pod\nmetadata: {name: p${i}}\nspec: {containers: [{name: a, image: a}]}\n`).join('---\n');
    const res = await server.preview.post('/preview', docs, 'application/yaml');
    expect([res.status, res.json.error.code]).toEqual([413, 'PREVIEW_LIMIT']);
    expect(res.json.error.message).toContain('at most 100');
  });
});

describe('a preview worker out of heap', () => {
  it('ends that preview (413 PREVIEW_LIMIT), not the server; the next preview gets a new worker', async () => {
    const server = await startTestServer({ kubeVersion: '1.30', previewHeapMb: 16 });
    try {
      const res = await server.preview.post('/preview?output=yaml', bigYaml, 'application/yaml');
      expect([res.status, res.json.error.code]).toEqual([413, 'PREVIEW_LIMIT']);
      expect(res.json.error.message).toContain('16 MB');
      const small = await server.preview.post('/preview?namespace=team-a', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...pod, metadata: { name: 'p', ...pod.metadata } }));
      expect(small.status).toBe(200);
      expect(small.json.allowed).toBe(true);
      expect((await server.client.post('/mutate', JSON.stringify(admissionReview(pod)))).status).toBe(200);
    } finally {
      await server.close();
    }
  }, 60_000);
});
