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
  shippedNodeOptions,
  wellFormedReview,
} from '../bench/scenarios.js';

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
 * The memory arithmetic of docs/capacity.md, from the Deployment's own NODE_OPTIONS, env and
 * limit: every ceiling reached at once must fit under the limit. Measured parts are named.
 */
describe('the Deployment\'s memory limit, heap flags and caps', () => {
  const MiB = 1024 * 1024;
  /** Measured: VmHWM of an idle server (certificate given), of which ~36 MiB is V8's initial heap. */
  const IDLE = 90;
  const IDLE_HEAP = 36;
  /** Measured: a preview worker's isolate and code. */
  const WORKER_BASE = 24;
  /** The pool's young-generation limit per worker (webhook/preview-pool.ts). */
  const WORKER_YOUNG = 8;
  /** Sockets and TLS buffers: ~200 connections x 64 KiB. */
  const SOCKETS = 12;

  it('fit together: every ceiling at once stays under the limit', () => {
    const deployment = parseYaml(readFileSync(join(resolve(import.meta.dirname, '../..'), 'manifests/base/deployment.yaml'), 'utf8'));
    const container = deployment.spec.template.spec.containers[0];
    const env = Object.fromEntries(container.env.filter((e: { value?: string }) => e.value !== undefined).map((e: { name: string; value: string }) => [e.name, e.value]));
    const config = loadConfig({}, env);
    const flag = (name: string) => Number(new RegExp(`--${name}=(\\d+)`).exec(shippedNodeOptions())?.[1]);
    const mainHeap = flag('max-old-space-size') + 3 * flag('max-semi-space-size') - IDLE_HEAP;
    const workers = config.previewWorkers * (WORKER_BASE + config.previewHeapMb + WORKER_YOUNG);
    const bodies = config.maxReviewBytes / MiB + config.maxPreviews + config.previewWorkers;
    const ceiling = IDLE + mainHeap + workers + bodies + SOCKETS;
    expect(Number.isFinite(mainHeap)).toBe(true);
    expect(ceiling).toBeLessThan(shippedMemoryLimit() / MiB);
    expect(Math.round(ceiling)).toBe(303); // docs/capacity.md states this sum: update both together
  });
});
