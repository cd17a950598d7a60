/**
 * The review counters' tallies (webhook/metrics.ts): per-review counts kept as numbers and added to
 * their counters when scraped, exactly once, alongside the counters' own increments.
 */
import { createMetrics } from '../webhook/metrics.js';

const value = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);

describe('review tallies', () => {
  it('reach their counters when scraped, once each, beside direct increments', async () => {
    const m = createMetrics({ certNotAfter: () => undefined, policyOutputs: () => 0, processMetrics: false });
    for (let i = 0; i < 3; i++) m.tallies.requests.add('injected', () => ({ route: 'mutate', outcome: 'injected' }));
    m.tallies.requests.add('skipped', () => ({ route: 'mutate', outcome: 'skipped' }));
    m.requests.inc({ route: 'preview', outcome: 'previewed' });
    for (let i = 0; i < 2; i++) m.tallies.injections.add('agent\u0000fluent-bit\u0000kafka', () => ({ mode: 'agent', agent: 'fluent-bit', output_type: 'kafka' }));
    m.tallies.answers.add('shape', () => ({ found: 'shape' }));
    m.tallies.skips.add('not-requested', () => ({ reason: 'not-requested' }));
    let text = await m.registry.metrics();
    expect(value(text, 'sidelog_requests_total{route="mutate",outcome="injected"}')).toBe(3);
    expect(value(text, 'sidelog_requests_total{route="mutate",outcome="skipped"}')).toBe(1);
    expect(value(text, 'sidelog_requests_total{route="preview",outcome="previewed"}')).toBe(1);
    expect(value(text, 'sidelog_injections_total{mode="agent",agent="fluent-bit",output_type="kafka"}')).toBe(2);
    expect(value(text, 'sidelog_review_answers_total{found="shape"}')).toBe(1);
    expect(value(text, 'sidelog_skips_total{reason="not-requested"}')).toBe(1);
    // A second scrape adds nothing that was already added; new counts add to the totals.
    m.tallies.requests.add('injected', () => ({ route: 'mutate', outcome: 'injected' }));
    text = await m.registry.metrics();
    expect(value(text, 'sidelog_requests_total{route="mutate",outcome="injected"}')).toBe(4);
    expect(value(text, 'sidelog_injections_total{mode="agent",agent="fluent-bit",output_type="kafka"}')).toBe(2);
    text = await m.registry.metrics();
    expect(value(text, 'sidelog_requests_total{route="mutate",outcome="injected"}')).toBe(4);
  });
});
