/**
 * Bounded by bytes, not by count (issue 8): the three loads that used to crash the server, against
 * the real `sidelog serve` process started with the Deployment's own NODE_OPTIONS, over real TLS
 * on loopback. It survives each, every answer is well-formed (an AdmissionReview for the uid, a
 * preview, or an error from the table), and its peak RSS stays under the Deployment's memory
 * limit. A behaviour test: it asserts outcomes, not times.
 */
import { Agent } from 'node:https';
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
