/**
 * Bounded by bytes, not by count (issue 8): the three loads that used to crash the server, against
 * the real `sidelog serve` process started with the Deployment's own NODE_OPTIONS, over real TLS
 * on loopback. It survives each, every answer is well-formed (an AdmissionReview for the uid, a
 * preview, or an error from the table), and its peak RSS stays under the Deployment's memory
 * limit. A behaviour test: it asserts outcomes, not times.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../webhook/config.js';
import {
  type ScenarioResult,
  type ServeProcess,
  concurrentBigPreviews,
  concurrentBigReviews,
  distinctRegexPods,
  peakRss,
  post,
  review,
  serveProcess,
  shippedMemoryLimit,
  numericFlag,
  shippedNodeOptions,
  childPids,
  previewYaml,
  running,
  wellFormedReview,
} from '../bench/scenarios.js';
import { PREVIEW_SEMI_SPACE_MB } from '../../webhook/preview-pool.js';
import { REVIEW_CACHE_DEFAULTS } from '../../webhook/review-cache.js';

const TIMEOUT = 180_000;

describe('the crash scenarios, against the server process with the shipped flags', () => {
  let server: ServeProcess;
  const limit = shippedMemoryLimit();

  beforeAll(async () => {
    expect(shippedNodeOptions()).toMatch(/--max-old-space-size=\d+/);
    server = await serveProcess();
  }, TIMEOUT);
  afterAll(async () => {
    await server?.stop();
  });

  /** After each scenario: still alive, still answering a normal review. */
  async function stillServes(): Promise<void> {
    const agent = new Agent({ keepAlive: false, ca: server.ca });
    const pod = { metadata: { annotations: { 'sidelog.io/streams': '- path: /var/log/a/a.log' } }, spec: { containers: [{ name: 'a', image: 'a' }] } };
    const answer = await post(agent, server.port, '/mutate', review(pod, 'after'));
    agent.destroy();
    expect(wellFormedReview(answer, 'after')).toBe(true);
    expect(answer.json.response.patchType).toBe('JSONPatch');
  }

  function expectSurvived(r: ScenarioResult): void {
    expect({ name: r.name, survived: r.survived, malformed: r.malformed }).toEqual({ name: r.name, survived: true, malformed: 0 });
    expect(r.peakRss).toBeLessThan(limit);
  }

  it('(a) 250 sequential distinct pods with ~60 KB regex annotations: all injected', async () => {
    const r = await distinctRegexPods(server);
    expectSurvived(r);
    expect(r.statuses).toEqual({ 200: 250 });
    await stillServes();
  }, TIMEOUT);

  it('(b) 40 concurrent ~4 MB reviews: some answered, the rest refused at once (429 BUSY), none lost', async () => {
    const r = await concurrentBigReviews(server);
    expectSurvived(r);
    expect(r.statuses[200]).toBeGreaterThanOrEqual(1);
    expect((r.statuses[200] ?? 0) + (r.statuses[429] ?? 0)).toBe(40);
    expect(Object.keys(r.codes)).toEqual(r.statuses[429] ? ['BUSY'] : []);
    await stillServes();
  }, TIMEOUT);

  it('(c) 10 concurrent 1 MiB YAML previews: answered, limited or refused, never a crash', async () => {
    const r = await concurrentBigPreviews(server);
    expectSurvived(r);
    expect(r.statuses[200]).toBeGreaterThanOrEqual(1);
    for (const code of Object.keys(r.codes)) expect(['BUSY', 'PREVIEW_LIMIT']).toContain(code);
    await stillServes();
    expect(peakRss(server.pid)).toBeLessThan(limit);
  }, TIMEOUT);
});

/**
 * A preview that exhausts its process's heap, against the real `sidelog serve` process: only an
 * out-of-process server can show that the server process itself survives (a worker thread out of
 * heap could abort its whole process, nodejs/node#47224). And the preview processes do not
 * outlive a server that is killed outright.
 */
describe('a preview out of heap, against the server process', () => {
  it('answers 413 PREVIEW_LIMIT naming the heap; the server process survives and answers /mutate and the next preview', async () => {
    const server = await serveProcess(['--preview-heap-mb', '32']);
    const agent = new Agent({ keepAlive: false, ca: server.ca });
    try {
      const res = await post(agent, server.previewPort, '/preview?output=yaml', previewYaml(false, 0), 'application/yaml');
      expect([res.status, res.json?.error?.code, res.json?.error?.message]).toEqual([413, 'PREVIEW_LIMIT', expect.stringContaining('32 MB heap')]);
      expect(server.alive()).toBe(true);
      const pod = { metadata: { annotations: { 'sidelog.io/streams': '- path: /var/log/a/a.log' } }, spec: { containers: [{ name: 'a', image: 'a' }] } };
      const answer = await post(agent, server.port, '/mutate', review(pod, 'after-oom'));
      expect(wellFormedReview(answer, 'after-oom')).toBe(true);
      expect(answer.json.response.patchType).toBe('JSONPatch');
      const next = await post(agent, server.previewPort, '/preview?namespace=team-a', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...pod, metadata: { name: 'p', ...pod.metadata } }));
      expect([next.status, next.json?.allowed]).toEqual([200, true]);
      expect(server.alive()).toBe(true);
      expect(server.stderr()).not.toMatch(/FATAL ERROR|heap out of memory/);
    } finally {
      agent.destroy();
      await server.stop();
    }
  }, TIMEOUT);

  it('leaves no preview process behind when the server process is killed (SIGKILL)', async () => {
    const server = await serveProcess();
    const agent = new Agent({ keepAlive: false, ca: server.ca });
    try {
      const res = await post(agent, server.previewPort, '/preview', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: 'a' }] } }));
      expect(res.status).toBe(200);
    } finally {
      agent.destroy();
    }
    const children = childPids(server.pid);
    expect(children.length).toBe(1);
    server.child.kill('SIGKILL');
    await server.stop();
    // The child sees its IPC channel close and exits; it is reparented, so poll for it to go.
    for (let i = 0; i < 200 && children.some(running); i++) await new Promise((r) => setTimeout(r, 25));
    expect(children.filter(running)).toEqual([]);
  }, TIMEOUT);
});

/**
 * The memory arithmetic of docs/capacity.md, from the Deployment's own NODE_OPTIONS, env and
 * limit: every ceiling reached at once must fit under the limit. Measured parts are named.
 */
describe('the Deployment\'s memory limit, heap flags and caps', () => {
  const MiB = 1024 * 1024;
  /**
   * Measured on Node.js 24 (the image's), with the image's node flags: VmHWM of an idle server
   * (certificate given) after the first pod that asks for a regex has loaded the regex engine
   * (91-92 before it; 96 and 105 with Maglev), of which ~36 MiB is V8's initial heap.
   */
  const IDLE = 99;
  const IDLE_HEAP = 36;
  /** Measured on Node.js 24: RSS of an idle preview process after its first preview, of which ~20 MiB is its V8 heap. */
  const CHILD_IDLE = 83;
  const CHILD_IDLE_HEAP = 20;
  /** Sockets and TLS buffers: ~200 connections x 64 KiB. */
  const SOCKETS = 12;

  it('fit together: every ceiling at once stays under the limit', () => {
    const deployment = parseYaml(readFileSync(join(resolve(import.meta.dirname, '../..'), 'manifests/base/deployment.yaml'), 'utf8'));
    const container = deployment.spec.template.spec.containers[0];
    const env = Object.fromEntries(container.env.filter((e: { value?: string }) => e.value !== undefined).map((e: { name: string; value: string }) => [e.name, e.value]));
    const config = loadConfig({}, env);
    const flag = (name: string) => numericFlag(shippedNodeOptions().split(' '), name);
    const mainHeap = flag('max-old-space-size') + 3 * flag('max-semi-space-size') - IDLE_HEAP;
    // Each preview process: its own Node, code and WASM, plus its heap ceilings (old + 3 semi-spaces).
    const children = config.previewWorkers * (CHILD_IDLE - CHILD_IDLE_HEAP + config.previewHeapMb + 3 * PREVIEW_SEMI_SPACE_MB);
    // Review bodies in flight; preview bodies in the server; in each child, its copy of the body and its answer.
    const bodies = config.maxReviewBytes / MiB + config.maxPreviews + 2 * config.previewWorkers;
    // Remembered answers are kept as bytes (Buffers): outside the heap, up to the review memo's bound.
    const rememberedAnswers = REVIEW_CACHE_DEFAULTS.maxBytes / MiB;
    // Remembered answers on their way out to slow clients, each holding its bytes after the memo let them go.
    const answersOut = (config.maxReviews * REVIEW_CACHE_DEFAULTS.maxAnswerBytes) / MiB;
    const ceiling = IDLE + mainHeap + children + bodies + rememberedAnswers + answersOut + SOCKETS;
    expect(Number.isFinite(mainHeap)).toBe(true);
    // At least a 10 % margin under the limit: the parts above are measured on one machine.
    expect(ceiling).toBeLessThan(0.9 * (shippedMemoryLimit() / MiB));
    expect(Math.round(ceiling)).toBe(350); // docs/capacity.md states this sum: update both together
  });
});
