/**
 * Prometheus metrics (prom-client), in a registry of their own so several servers in one process
 * (tests, the bench) never share counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Counts made on every review, kept as plain numbers per label set (`key` names it) and added to
 * their counter when the registry is scraped: a prom-client `inc` hashes its labels on every call
 * (measured with callgrind: 4 % of the instructions of a remembered review for the counters and
 * the histogram a review touches). Label values come from closed sets (routes, outcomes, skip
 * codes, modes, agents, output types), so the tally holds a bounded number of entries. A tally
 * turns a key into its labels itself, the first time it sees the key: a call passes only the key,
 * and makes no closure and no object.
 */
export class Tally<L extends string> {
  private readonly counts = new Map<string, { readonly labels: Partial<Record<L, string>>; n: number }>();

  constructor(private readonly labelsOf: (key: string) => Partial<Record<L, string>>) {}

  add(key: string): void {
    const entry = this.counts.get(key);
    if (entry) entry.n++;
    else this.counts.set(key, { labels: this.labelsOf(key), n: 1 });
  }

  /** Add what was counted since the last flush to `counter`. */
  flushInto(counter: Counter<L>): void {
    for (const entry of this.counts.values()) {
      if (entry.n === 0) continue;
      counter.inc(entry.labels, entry.n);
      entry.n = 0;
    }
  }
}

/** A counter's `collect`: add what `tally` counted when the registry is scraped. */
function flushing<L extends string>(tally: Tally<L>): { collect(this: Counter<L>): void } {
  return {
    collect() {
      tally.flushInto(this);
    },
  };
}

/** The `injections` tally's key: a stream's mode, agent and output type. */
export function injectionKey(mode: string, agent: string, outputType: string): string {
  return `${mode}\u0000${agent}\u0000${outputType}`;
}

/**
 * Tallies of the review counters, flushed into `requests` (route `mutate`, by outcome), `answers`
 * (by how the answer was found), `skips` (by reason) and `injections` (by {@link injectionKey}) when scraped.
 */
export interface ReviewTallies {
  readonly requests: Tally<'route' | 'outcome'>;
  readonly answers: Tally<'found'>;
  readonly skips: Tally<'reason'>;
  readonly injections: Tally<'mode' | 'agent' | 'output_type'>;
}

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'outcome'>;
  readonly duration: Histogram<'route'>;
  readonly injections: Counter<'mode' | 'agent' | 'output_type'>;
  readonly answers: Counter<'found'>;
  readonly skips: Counter<'reason'>;
  readonly badRequests: Counter<'code'>;
  /** Requests in flight under each cap (docs/capacity.md), read at scrape time from `watchInFlight`'s sources. */
  readonly inFlight: Gauge<'cap'>;
  /** Report `read()` as the requests in flight under `cap` (read when scraped, not set per request). */
  watchInFlight(cap: string, read: () => number): void;
  readonly policyReloads: Counter<'result'>;
  readonly certReloads: Counter<'result'>;
  readonly certExpiry: Gauge;
  readonly policyOutputs: Gauge;
  /** The review counters' per-review increments (flushed into them when scraped). */
  readonly tallies: ReviewTallies;
}

/** `certNotAfter` is read at scrape time; `now` is injectable for tests. */
export function createMetrics(opts: { certNotAfter: () => Date | undefined; policyOutputs: () => number; now?: () => number; processMetrics?: boolean }): Metrics {
  const registry = new Registry();
  const now = opts.now ?? Date.now;
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'sidelog_' });
  const inFlightSources = new Map<string, () => number>();
  const tallies: ReviewTallies = {
    requests: new Tally((outcome) => ({ route: 'mutate', outcome })),
    answers: new Tally((found) => ({ found })),
    skips: new Tally((reason) => ({ reason })),
    injections: new Tally((key) => {
      const [mode, agent, output_type] = key.split('\u0000');
      return { mode, agent, output_type };
    }),
  };
  return {
    tallies,
    watchInFlight: (cap, read) => void inFlightSources.set(cap, read),
    registry,
    requests: new Counter({
      name: 'sidelog_requests_total',
      help: 'Requests by route and outcome (injected, skipped, denied, previewed, error).',
      labelNames: ['route', 'outcome'],
      registers: [registry],
      ...flushing(tallies.requests),
    }),
    duration: new Histogram({
      name: 'sidelog_request_duration_seconds',
      help: 'Time to answer a request, by route.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    injections: new Counter({
      name: 'sidelog_injections_total',
      help: 'Injected streams by mode, agent and output type.',
      labelNames: ['mode', 'agent', 'output_type'],
      registers: [registry],
      ...flushing(tallies.injections),
    }),
    answers: new Counter({
      name: 'sidelog_review_answers_total',
      help: 'Admission reviews answered, by how the answer was found: remembered (the same bytes but for the uid, or the same shape) or worked out.',
      labelNames: ['found'],
      registers: [registry],
      ...flushing(tallies.answers),
    }),
    skips: new Counter({
      name: 'sidelog_skips_total',
      help: 'Pods left unchanged, by reason.',
      labelNames: ['reason'],
      registers: [registry],
      ...flushing(tallies.skips),
    }),
    badRequests: new Counter({ name: 'sidelog_bad_requests_total', help: 'Requests refused before reaching the core, by error code.', labelNames: ['code'], registers: [registry] }),
    inFlight: new Gauge({
      name: 'sidelog_in_flight_requests',
      help: 'Requests in flight under each cap (reviews, previews); over the cap they are refused with 429.',
      labelNames: ['cap'],
      registers: [registry],
      collect() {
        for (const [cap, read] of inFlightSources) this.set({ cap }, read());
      },
    }),
    policyReloads: new Counter({ name: 'sidelog_policy_reloads_total', help: 'Policy loads by result (success, failure).', labelNames: ['result'], registers: [registry] }),
    certReloads: new Counter({ name: 'sidelog_certificate_reloads_total', help: 'Serving certificate loads by result (success, failure).', labelNames: ['result'], registers: [registry] }),
    certExpiry: new Gauge({
      name: 'sidelog_certificate_expiry_seconds',
      help: 'Seconds until the serving certificate expires (negative once expired).',
      registers: [registry],
      collect() {
        const notAfter = opts.certNotAfter();
        if (notAfter) this.set((notAfter.getTime() - now()) / 1000);
      },
    }),
    policyOutputs: new Gauge({
      name: 'sidelog_policy_outputs',
      help: 'Outputs in the catalog of the policy in force.',
      registers: [registry],
      collect() {
        this.set(opts.policyOutputs());
      },
    }),
  };
}
