/**
 * /mutate is never starved (issue 8): previews have a listener of their own, a cap of their own,
 * and run in child processes, so a review is answered while previews are still being worked,
 * a preview over the cap is refused at once, and a preview too big for its heap or its time
 * ends its child, not the server. Over real TLS. (That the server PROCESS survives is shown
 * against `sidelog serve` itself in crash-scenarios.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { childPids, previewYaml, running } from '../bench/scenarios.js';
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

/** This process's preview children (`fork` of preview-child.js). */
const previewChildren = () =>
  childPids(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('preview-child.js');
    } catch {
      return false;
    }
  });
const smallPreview = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...pod, metadata: { name: 'p', ...pod.metadata } });

describe('preview child processes', () => {
  it('start with the first preview, with their own heap flags, and none remains after close()', async () => {
    const before = previewChildren();
    const server = await startTestServer({ kubeVersion: '1.30', previewWorkers: 2, maxPreviews: 2, previewHeapMb: 48 });
    let children: number[] = [];
    try {
      expect(previewChildren()).toEqual(before); // none yet: they start lazily
      const answers = await Promise.all([0, 1].map(() => server.preview.post('/preview?namespace=team-a', smallPreview)));
      expect(answers.map((a) => a.status)).toEqual([200, 200]);
      children = previewChildren().filter((pid) => !before.includes(pid));
      expect(children.length).toBeGreaterThanOrEqual(1);
      expect(children.length).toBeLessThanOrEqual(2);
      for (const pid of children) {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        expect(argv).toContain('--max-old-space-size=48');
        // Never the parent's heap flags: the child's environment has no NODE_OPTIONS.
        expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').some((e) => e.startsWith('NODE_OPTIONS='))).toBe(false);
      }
    } finally {
      await server.close();
    }
    expect(children.filter(running)).toEqual([]);
    expect(previewChildren()).toEqual(before);
  }, 60_000);

  it('a preview past the time limit: its child is killed, 413 PREVIEW_LIMIT, and the next preview works', async () => {
    // A 1 MiB manifest of ~3,900 pods takes about a second to parse; a small pod a few ms.
    const server = await startTestServer({ kubeVersion: '1.30', previewTimeoutMs: 250 });
    try {
      const warm = await server.preview.post('/preview?namespace=team-a', smallPreview);
      expect(warm.status).toBe(200);
      const [child] = previewChildren();
      const res = await server.preview.post('/preview', previewYaml(true, 0), 'application/yaml');
      expect([res.status, res.json.error.code, res.json.error.message]).toEqual([413, 'PREVIEW_LIMIT', expect.stringContaining('ran longer than 0.25 s')]);
      expect(running(child!)).toBe(false);
      const next = await server.preview.post('/preview?namespace=team-a', smallPreview);
      expect([next.status, next.json.allowed]).toEqual([200, true]);
      expect(previewChildren()).not.toContain(child);
      expect((await server.client.post('/mutate', JSON.stringify(admissionReview(pod)))).status).toBe(200);
    } finally {
      await server.close();
    }
  }, 60_000);
});

describe('a preview process out of heap', () => {
  it('ends that preview (413 PREVIEW_LIMIT), not the server; the next preview gets a new process', async () => {
    const server = await startTestServer({ kubeVersion: '1.30', previewHeapMb: 32 });
    try {
      const res = await server.preview.post('/preview?output=yaml', bigYaml, 'application/yaml');
      expect([res.status, res.json.error.code]).toEqual([413, 'PREVIEW_LIMIT']);
      expect(res.json.error.message).toContain('32 MB');
      const small = await server.preview.post('/preview?namespace=team-a', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...pod, metadata: { name: 'p', ...pod.metadata } }));
      // The error's message, if any, shows in a failure.
      expect([small.status, small.json.error?.message ?? small.json.allowed]).toEqual([200, true]);
      expect((await server.client.post('/mutate', JSON.stringify(admissionReview(pod)))).status).toBe(200);
    } finally {
      await server.close();
    }
  }, 60_000);
});
