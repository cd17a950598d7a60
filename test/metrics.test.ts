/**
 * The review counters' tallies (webhook/metrics.ts): per-review counts kept as numbers and added to
 * their counters when scraped, exactly once, alongside the counters' own increments.
 */
import { createMetrics, injectionKey } from '../webhook/metrics.js';

const value = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);

describe('review tallies', () => {
  it('reach their counters when scraped, once each, beside direct increments', async () => {
    const m = createMetrics({ certNotAfter: () => undefined, policyOutputs: () => 0, processMetrics: false });
    for (let i = 0; i < 3; i++) m.tallies.requests.add('injected');
    m.tallies.requests.add('skipped');
    m.requests.inc({ route: 'preview', outcome: 'previewed' });
    for (let i = 0; i < 2; i++) m.tallies.injections.add(injectionKey('agent', 'fluent-bit', 'kafka'));
    m.tallies.answers.add('shape');
    m.tallies.skips.add('not-requested');
    let text = await m.registry.metrics();
    expect(value(text, 'sidelog_requests_total{route="mutate",outcome="injected"}')).toBe(3);
    expect(value(text, 'sidelog_requests_total{route="mutate",outcome="skipped"}')).toBe(1);
    expect(value(text, 'sidelog_requests_total{route="preview",outcome="previewed"}')).toBe(1);
    expect(value(text, 'sidelog_injections_total{mode="agent",agent="fluent-bit",output_type="kafka"}')).toBe(2);
    expect(value(text, 'sidelog_review_answers_total{found="shape"}')).toBe(1);
    expect(value(text, 'sidelog_skips_total{reason="not-requested"}')).toBe(1);
    // A second scrape adds nothing that was already added; new counts add to the totals.
    m.tallies.requests.add('injected');
    text = await m.registry.metrics();
    expect(value(text, 'sidelog_requests_total{route="mutate",outcome="injected"}')).toBe(4);
    expect(value(text, 'sidelog_injections_total{mode="agent",agent="fluent-bit",output_type="kafka"}')).toBe(2);
    text = await m.registry.metrics();
    expect(value(text, 'sidelog_requests_total{route="mutate",outcome="injected"}')).toBe(4);
  });
});

describe('review counters on a real server', () => {
  it('count a remembered answer exactly as the worked-out one: requests, answers and each stream injected', async () => {
    const { startTestServer, admissionReview } = await import('./http/client.js');
    const { loadCases, podOf } = await import('./golden/harness.js');
    const sample = loadCases().find((c) => c.name === 'mixed-native')!;
    const server = await startTestServer({ policy: 'test/golden/policy.yaml', kubeVersion: '1.30' });
    try {
      const series = async () => {
        const text = (await server.preview.get('/metrics')).text;
        const out = new Map<string, number>();
        for (const m of text.matchAll(/^(sidelog_(?:injections_total|requests_total|review_answers_total)\{[^}]*\}) (\d+)$/gm)) out.set(m[1]!, Number(m[2]));
        return out;
      };
      const send = async (uid: string) => {
        const res = await server.client.post('/mutate', JSON.stringify(admissionReview(podOf(sample.input), { namespace: 'team-a', uid })));
        expect(res.status).toBe(200);
      };
      const before = await series();
      await send('first');
      const once = await series();
      for (let i = 0; i < 4; i++) await send(`again-${i}`);
      const after = await series();
      const delta = (a: Map<string, number>, b: Map<string, number>, k: string) => (b.get(k) ?? 0) - (a.get(k) ?? 0);
      const injections = [...once.keys()].filter((k) => k.startsWith('sidelog_injections_total') && delta(before, once, k) > 0);
      // Three streams: two through the agent, one streaming.
      expect(injections.reduce((n, k) => n + delta(before, once, k), 0)).toBe(3);
      for (const k of injections) expect(delta(once, after, k)).toBe(4 * delta(before, once, k));
      expect(delta(once, after, 'sidelog_requests_total{route="mutate",outcome="injected"}')).toBe(4);
      // The second is remembered on its sighting, the three after it are answered from memory.
      expect(delta(once, after, 'sidelog_review_answers_total{found="worked-out"}')).toBe(1);
      expect(delta(once, after, 'sidelog_review_answers_total{found="bytes"}')).toBe(3);
    } finally {
      await server.close();
    }
  });
});
