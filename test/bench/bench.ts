/**
 * `npm run bench`: the webhook and a baseline fastify TLS server side by side, each a child
 * process on this machine with the image's node flags, the Deployment's NODE_OPTIONS and log level, driven by the same
 * load generator (autocannon, keep-alive) with a realistic AdmissionReview; then the core
 * in-process. A script, not a test: it asserts nothing, it prints figures and ratios.
 *
 * Per server (baseline; the webhook on identical pods, on distinct pods of one shape, and on pods
 * of distinct shapes, each a row of its own; see `Requests`): maximum req/s with
 * p50/p99; the server's CPU µs per review (/proc/<pid>/stat user + system time over the run,
 * divided by the reviews answered); p50/p99 at a steady BENCH_LOW_RATE reviews/s (paced
 * open-loop); peak RSS (VmHWM) after those loads; then the 64 KB pod (1,500 env vars) through the
 * real server, one review at a time, as the client sees it and as the webhook logs it. Then the
 * goals of issue 10, each met or not.
 *
 * Then /mutate latency while /preview is saturated with 1 MiB previews, and the peak RSS of the
 * server process under the three crash scenarios of issue 8 (test/bench/scenarios.ts).
 *
 * Options (env): BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 16), BENCH_LOW_RATE
 * (default 1000), BENCH_BIG_REVIEWS (default 300), BENCH_NODE_OPTIONS and BENCH_NODE_ARGS (instead
 * of the shipped NODE_OPTIONS and node flags, space-separated), BENCH_PARTS (a comma list of: throughput, preview, crash; default all).
 */
import { spawn } from 'node:child_process';
import { Agent, request as httpsRequest } from 'node:https';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { issueCa, issueServing } from '../../certs/issue.js';
import { answerReview } from '../../webhook/inject/admission.js';
import { mutate } from '../../webhook/inject/mutate.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import {
  type ScenarioResult,
  type ServeProcess,
  ROOT,
  concurrentBigPreviews,
  concurrentBigReviews,
  distinctRegexPods,
  peakRss,
  post,
  previewYaml,
  serveProcess,
  shippedLogLevel,
  shippedMemoryLimit,
  shippedEnv,
  shippedMallocEnv,
  shippedNodeArgs,
  shippedNodeOptions,
} from './scenarios.js';
import { type Requests, body, newShapes, nextBody, pod, review, templatesApply, uniqueTag } from './rows.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
/** The steady rate of issue 10's latency goal (reviews per second), paced open-loop. */
const LOW_RATE = Number(process.env.BENCH_LOW_RATE ?? 1000);
/** Sequential reviews of the 64 KB pod, one at a time, per server. */
const BIG_REVIEWS = Number(process.env.BENCH_BIG_REVIEWS ?? 300);

const policyFile = join(ROOT, 'test/golden/policy.yaml');
const policy = parsePolicy(readFileSync(policyFile, 'utf8'), policyFile);

interface Child {
  port: number;
  pid: number;
  /** Calls `onLine` with each line the child writes to stdout, until given `undefined`. */
  listen(onLine: ((line: string) => void) | undefined): void;
  stop(): Promise<void>;
}

const SERVER_NODE_OPTIONS = process.env.BENCH_NODE_OPTIONS ?? shippedNodeOptions();
const SERVER_NODE_ARGS = process.env.BENCH_NODE_ARGS !== undefined ? process.env.BENCH_NODE_ARGS.split(' ').filter(Boolean) : shippedNodeArgs();
const SERVER_LOG_LEVEL = shippedLogLevel();

/**
 * A bench server as a child process, with the image's node flags, the Deployment's NODE_OPTIONS, MALLOC_*
 * and SIDELOG_LOG_LEVEL (BENCH_NODE_ARGS and BENCH_NODE_OPTIONS override the flags), for both servers, so the bench measures what is
 * shipped and compares like with like. Its stdout (the webhook's log) is a pipe the bench drains
 * and drops, as a container runtime reads it: logging costs the server what it costs in a
 * cluster, and the bench holds none of it.
 */
function startChild(kind: string, args: string[]): Promise<Child> {
  const env = shippedEnv(SERVER_NODE_OPTIONS);
  if (SERVER_LOG_LEVEL !== undefined) env.SIDELOG_LOG_LEVEL = SERVER_LOG_LEVEL;
  else delete env.SIDELOG_LOG_LEVEL;
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS, join(HERE, 'servers.js'), kind, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  let onLine: ((line: string) => void) | undefined;
  let partial = '';
  let started = false;
  return new Promise((resolvePromise, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (started && onLine === undefined) return; // drained and dropped
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const m = started ? null : /^port=(\d+)$/.exec(line);
        if (!m) {
          onLine?.(line);
          continue;
        }
        started = true;
        resolvePromise({
          port: Number(m[1]),
          pid: child.pid!,
          listen: (f) => {
            onLine = f;
            partial = '';
          },
          stop: () => new Promise((r) => {
            child.once('exit', () => r());
            child.kill('SIGTERM');
          }),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
  });
}

/** Peak resident set size of a process so far (Linux VmHWM), in MB. */
function peakRssMb(pid: number): number {
  try {
    return peakRss(pid) / 2 ** 20;
  } catch {
    return NaN;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux whatever HZ the kernel runs). */
const USER_HZ = 100;

/** CPU time a process has used so far, user + system, in µs (Linux /proc/<pid>/stat). */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After the command name (which may hold spaces): state is [0], utime [11], stime [12].
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / USER_HZ) * 1e6;
}

/** Run `work` and add the server's CPU µs per completed request. */
async function withCpu<T>(pid: number, work: () => Promise<T>, completed: (r: T) => number): Promise<T & { cpuUs: number }> {
  const before = cpuMicros(pid);
  const r = await work();
  return { ...r, cpuUs: (cpuMicros(pid) - before) / Math.max(1, completed(r)) };
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
  /** Requests answered. */
  completed: number;
}

interface Paced {
  p50: number;
  p99: number;
  errors: number;
  sent: number;
  /** Answers per second actually completed; below the target means the client could not keep up. */
  achieved: number;
  target: number;
  /** Requests answered 200. */
  completed: number;
}

async function load(port: number, ca: string, requests: Requests): Promise<Load> {
  const r = await autocannon({
    url: `https://localhost:${port}/mutate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    ...(requests !== 'identical' ? { requests: [{ setupRequest: (req: object) => ({ ...req, body: nextBody(requests, 'h') }) }] } : {}),
    connections: CONNECTIONS,
    duration: SECONDS,
    tlsOptions: { ca, servername: 'localhost' },
  } as autocannon.Options);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, errors: r.errors + r.timeouts, non2xx: r.non2xx, completed: r.requests.total };
}

/**
 * Open-loop load at a fixed rate: requests leave on schedule whether or not earlier ones have
 * answered, over keep-alive connections, so latency is measured at that rate, not in bursts.
 */
async function paced(port: number, ca: string, rate: number, requests: Requests): Promise<Paced> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, ca });
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  const pending: Promise<void>[] = [];
  const fire = () => {
    const payload = nextBody(requests, 'p');
    const t0 = performance.now();
    sent++;
    pending.push(
      new Promise<void>((done) => {
        const req = httpsRequest({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', agent, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - t0);
            else errors++;
            done();
          });
        });
        req.on('error', () => {
          errors++;
          done();
        });
        req.end(payload);
      }),
    );
  };
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    while (sent < due) fire();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (f: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * f))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), errors, sent, achieved: latencies.length / ((performance.now() - start) / 1000), target: rate, completed: latencies.length };
}

function bigPod(): unknown {
  const env = Array.from({ length: 1500 }, (_, i) => ({ name: `SETTING_${String(i).padStart(4, '0')}`, value: `value-${i}-${'x'.repeat(14)}` }));
  const p = structuredClone(pod);
  p.spec.containers[0].env = env;
  return p;
}

function timeIt(fn: () => void, minMs: number): { perSecond: number; meanMs: number; medianMs: number } {
  const samples: number[] = [];
  const until = performance.now() + minMs;
  while (performance.now() < until) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const total = samples.reduce((a, b) => a + b, 0);
  return { perSecond: (samples.length / total) * 1000, meanMs: total / samples.length, medianMs: samples[Math.floor(samples.length / 2)]! };
}

const PARTS = new Set((process.env.BENCH_PARTS ?? 'throughput,preview,crash').split(','));
/** Previews in flight at once while /mutate is measured: the server's default cap. */
const PREVIEW_CLIENTS = Number(process.env.BENCH_PREVIEW_CLIENTS ?? 4);
/** Paced /mutate rate while previews run. */
const MUTATE_RATE = Number(process.env.BENCH_MUTATE_RATE ?? 50);

function quantile(sorted: number[], f: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * f))] ?? NaN;
}

/** Paced /mutate reviews for `seconds`, each a pod of a new shape (worked out in full); latencies in ms (sorted) and failures. */
async function pacedReviews(server: ServeProcess, seconds: number): Promise<{ latencies: number[]; failures: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8, ca: server.ca });
  const latencies: number[] = [];
  let failures = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let sent = 0;
  while (performance.now() < start + seconds * 1000) {
    while (sent < Math.floor(((performance.now() - start) / 1000) * MUTATE_RATE)) {
      const uid = `p-${sent++}`;
      const text = nextBody('shapes', 'q').replace('"uid":"bench"', `"uid":"${uid}"`);
      const t0 = performance.now();
      pending.push(
        post(agent, server.port, '/mutate', text).then(
          (a) => {
            if (a.status === 200 && a.json?.response?.uid === uid) latencies.push(performance.now() - t0);
            else failures++;
          },
          () => void failures++,
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(pending);
  agent.destroy();
  return { latencies: latencies.sort((a, b) => a - b), failures };
}

/** /mutate while PREVIEW_CLIENTS clients keep /preview busy with 1 MiB YAML bodies. */
async function mutateUnderPreviewLoad(): Promise<void> {
  const server = await serveProcess();
  try {
    const quiet = await pacedReviews(server, SECONDS / 2);
    const agent = new Agent({ keepAlive: true, maxSockets: PREVIEW_CLIENTS, ca: server.ca });
    const yaml = previewYaml(false, 0);
    let stop = false;
    const previews: Record<string, number> = {};
    const loops = Array.from({ length: PREVIEW_CLIENTS }, async () => {
      while (!stop) {
        const a = await post(agent, server.previewPort, '/preview', yaml, 'application/yaml').catch(() => undefined);
        const key = a ? String(a.status) : 'failed';
        previews[key] = (previews[key] ?? 0) + 1;
        if (a?.status === 429) await new Promise((r) => setTimeout(r, 100));
      }
    });
    await new Promise((r) => setTimeout(r, 1000)); // the previews under way
    const busy = await pacedReviews(server, SECONDS);
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    console.log(`
/mutate while /preview is saturated (${PREVIEW_CLIENTS} clients sending ${(yaml.length / 1024).toFixed(0)} KiB YAML previews back to back; /mutate paced at ${MUTATE_RATE}/s, a new shape each (worked out in full); server with the image's node flags and the shipped NODE_OPTIONS):`);
    console.log('| /preview load | reviews | failed | p50 ms | p99 ms | max ms | previews answered (by status) |');
    console.log('|---------------|---------|--------|--------|--------|--------|-------------------------------|');
    for (const [name, r, p] of [['none', quiet, '-'], ['saturated', busy, JSON.stringify(previews)]] as const) {
      console.log(`| ${name.padEnd(13)} | ${String(r.latencies.length).padStart(7)} | ${String(r.failures).padStart(6)} | ${f2(quantile(r.latencies, 0.5)).padStart(6)} | ${f2(quantile(r.latencies, 0.99)).padStart(6)} | ${f2(r.latencies.at(-1) ?? NaN).padStart(6)} | ${p.padEnd(29)} |`);
    }
    const p99 = quantile(busy.latencies, 0.99);
    console.log(`/mutate p99 under preview saturation: ${f2(p99)} ms (target < 100 ms: ${p99 < 100 ? 'met' : 'NOT met'})`);
  } finally {
    await server.stop();
  }
}

/** Peak RSS of a fresh server process under each crash scenario. */
async function crashScenarios(): Promise<void> {
  const limit = shippedMemoryLimit() / 2 ** 20;
  const rows: ScenarioResult[] = [];
  for (const run of [distinctRegexPods, concurrentBigReviews, concurrentBigPreviews]) {
    const server = await serveProcess();
    try {
      rows.push(await run(server));
    } finally {
      await server.stop();
    }
  }
  console.log(`
the crash scenarios of issue 8, each against a fresh server process with the image's node flags and the shipped NODE_OPTIONS (memory limit ${limit} MiB):`);
  console.log('| scenario                                       | survived | malformed | answers by status | peak RSS MB |');
  console.log('|------------------------------------------------|----------|-----------|-------------------|-------------|');
  for (const r of rows) {
    console.log(`| ${r.name.padEnd(46)} | ${String(r.survived).padEnd(8)} | ${String(r.malformed).padStart(9)} | ${JSON.stringify(r.statuses).padEnd(17)} | ${f1(r.peakRss / 2 ** 20).padStart(11)} |`);
  }
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

async function main() {
  if (PARTS.has('throughput')) await throughput();
  if (PARTS.has('preview')) await mutateUnderPreviewLoad();
  if (PARTS.has('crash')) await crashScenarios();
}

/** A review of the 64 KB pod, each with a container of its own name: a new shape, worked out in full. */
const bigTemplate = newShapes(JSON.stringify({ ...review, request: { ...review.request, object: bigPod() } }));

interface Sequential {
  /** Round trip seen by the client, ms (sorted). */
  client: number[];
  /** `durationMs` of the webhook's admission log lines: from the request's arrival to its answer, ms (sorted). */
  server: number[];
  errors: number;
}

/**
 * The 64 KB pod through the real server, one review at a time on one keep-alive connection (no
 * queueing), after a warm-up. The webhook's own figure comes from its admission log line, read
 * from the pipe only while this runs.
 */
async function sequentialBig(child: Child, ca: string): Promise<Sequential> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  const client: number[] = [];
  const server: number[] = [];
  let errors = 0;
  for (let i = 0; i < BIG_REVIEWS + 50; i++) {
    if (i === 50) {
      child.listen((line) => {
        const m = /"durationMs":([0-9.e-]+)/.exec(line);
        if (m && line.includes('"admission"')) server.push(Number(m[1]));
      });
    }
    const payload = bigTemplate.replace('@@', uniqueTag('b'));
    const t0 = performance.now();
    const a = await post(agent, child.port, '/mutate', payload).catch(() => undefined);
    if (a?.status !== 200) errors++;
    else if (i >= 50) client.push(performance.now() - t0);
  }
  await new Promise((r) => setTimeout(r, 100)); // the last log lines
  child.listen(undefined);
  agent.destroy();
  return { client: client.sort((x, y) => x - y), server: server.sort((x, y) => x - y), errors };
}

interface Row {
  name: string;
  max: Load & { cpuUs: number };
  low: Paced & { cpuUs: number };
  rss: number;
  big: Sequential;
}

async function throughput() {
  const dir = mkdtempSync(join(tmpdir(), 'sidelog-bench-'));
  const ca = await issueCa();
  const serving = await issueServing({ ca, dnsNames: ['localhost'], ips: ['127.0.0.1'] });
  writeFileSync(join(dir, 'tls.crt'), serving.cert);
  writeFileSync(join(dir, 'tls.key'), serving.key);
  const responseText = JSON.stringify(answerReview(review as never, { policy, enforcement: 'enabled', kubeVersion: { major: 1, minor: 30 } }).review);
  writeFileSync(join(dir, 'response.json'), responseText);
  const args = [join(dir, 'tls.crt'), join(dir, 'tls.key'), policyFile, join(dir, 'response.json')];

  console.log(`sidelog bench: ${SECONDS}s per run, ${CONNECTIONS} keep-alive connections, request ${body.length} B, response ${responseText.length} B, ${process.version}, servers with node flags "${SERVER_NODE_ARGS.join(' ')}", NODE_OPTIONS="${SERVER_NODE_OPTIONS}"${Object.entries(shippedMallocEnv()).map(([k, v]) => ` ${k}=${v}`).join('')}, webhook log level ${SERVER_LOG_LEVEL ?? 'default'} (stdout a drained pipe)`);
  if (!templatesApply(bigTemplate)) throw new Error('bench: a distinct-pod template did not apply');
  const results: Row[] = [];
  const rows = [
    ['baseline', 'baseline', 'identical'],
    ['webhook, identical pods', 'webhook', 'identical'],
    ['webhook, distinct pods', 'webhook', 'distinct'],
    ['webhook, distinct shapes', 'webhook', 'shapes'],
  ] as const;
  for (const [name, kind, requests] of rows) {
    const child = await startChild(kind, args);
    await load(child.port, ca.cert, requests).catch(() => undefined); // warm-up
    const max = await withCpu(child.pid, () => load(child.port, ca.cert, requests), (r) => r.completed);
    const low = await withCpu(child.pid, () => paced(child.port, ca.cert, LOW_RATE, requests), (r) => r.completed);
    const rss = peakRssMb(child.pid); // before the 64 KB pods: the peak under this row's load
    // The 64 KB pod: for the baseline, and through the webhook once, in full (new shapes).
    const big = kind === 'baseline' || requests === 'shapes' ? await sequentialBig(child, ca.cert) : { client: [], server: [], errors: 0 };
    results.push({ name, max, low, rss, big });
    await child.stop();
  }
  console.log(`\n| server                   | req/s (max) | p50 ms | p99 ms | max ms | errors | CPU µs/review | p50 / p99 ms at ${LOW_RATE}/s | CPU µs/review at ${LOW_RATE}/s | peak RSS MB |`);
  console.log('|--------------------------|-------------|--------|--------|--------|--------|---------------|-----------------------|--------------------------|-------------|');
  for (const r of results) {
    console.log(`| ${r.name.padEnd(24)} | ${f1(r.max.rps).padStart(11)} | ${f2(r.max.p50).padStart(6)} | ${f2(r.max.p99).padStart(6)} | ${f2(r.max.max).padStart(6)} | ${String(r.max.errors + r.max.non2xx + r.low.errors).padStart(6)} | ${f1(r.max.cpuUs).padStart(13)} | ${`${f2(r.low.p50)} / ${f2(r.low.p99)}`.padStart(21)} | ${f1(r.low.cpuUs).padStart(23)} | ${f1(r.rss).padStart(11)} |`);
  }
  for (const r of results) {
    if (r.low.achieved < r.low.target * 0.95) console.log(`${r.name}: ${f1(r.low.target)} req/s asked, ${f1(r.low.achieved)} answered/s (the paced client could not keep up: its p99 includes client queueing)`);
  }
  const b = results[0]!;
  for (const w of results.slice(1)) {
    console.log(`ratio ${w.name} / baseline: throughput ${f2(w.max.rps / b.max.rps)}, p99 ${f2(w.max.p99 / Math.max(b.max.p99, 0.01))}, p99 at ${LOW_RATE}/s ${f2(w.low.p99 / Math.max(b.low.p99, 0.01))}, CPU per review ${f2(w.max.cpuUs / b.max.cpuUs)}, peak RSS ${f2(w.rss / b.rss)}`);
  }

  const bigSize = bigTemplate.length;
  console.log(`\nthe ${(bigSize / 1024).toFixed(0)} KB review (a pod with 1,500 env vars), ${BIG_REVIEWS} distinct ones, one at a time on one keep-alive connection:`);
  console.log('| server                   | client p50 / p99 ms | server-side p50 / p99 ms | errors |');
  console.log('|--------------------------|---------------------|--------------------------|--------|');
  for (const r of results.filter((x) => x.big.client.length > 0)) {
    const server = r.big.server.length ? `${f2(quantile(r.big.server, 0.5))} / ${f2(quantile(r.big.server, 0.99))}` : '-';
    console.log(`| ${r.name.padEnd(24)} | ${`${f2(quantile(r.big.client, 0.5))} / ${f2(quantile(r.big.client, 0.99))}`.padStart(19)} | ${server.padStart(24)} | ${String(r.big.errors).padStart(6)} |`);
  }

  // Issue 10's goals, for distinct pods of one shape and for pods of distinct shapes each.
  const shapes = results[3]!;
  console.log('');
  for (const d of [results[2]!, results[3]!]) {
    const goals: Array<[string, string, boolean]> = [
      ['throughput >= 0.7x the baseline', `${f2(d.max.rps / b.max.rps)}x`, d.max.rps >= 0.7 * b.max.rps],
      [`p99 < 5 ms at ${LOW_RATE} reviews/s`, `${f2(d.low.p99)} ms`, d.low.p99 < 5],
      ['peak RSS < 100 MB under this load', `${f1(d.rss)} MB`, d.rss < 100],
    ];
    for (const [goal, value, met] of goals) console.log(`goal, ${d.name.replace('webhook, ', '')}: ${goal}: ${value} (${met ? 'met' : 'NOT met'})`);
  }
  const bigP50 = quantile(shapes.big.server, 0.5);
  console.log(`goal: the 64 KB pod < 2.5 ms server-side (p50, a new shape each): ${f2(bigP50)} ms (${bigP50 < 2.5 ? 'met' : 'NOT met'})`);

  const realistic = timeIt(() => mutate({ object: pod, namespace: 'team-a', policy, kubeVersion: { major: 1, minor: 30 } }), 2000);
  const big = bigPod();
  const bigRun = timeIt(() => mutate({ object: big, namespace: 'team-a', policy, kubeVersion: { major: 1, minor: 30 } }), 2000);
  console.log(`\ncore, in process: ${f1(realistic.perSecond)} injections/s for the realistic pod (mean ${f2(realistic.meanMs)} ms)`);
  console.log(`core, in process: one injection on the ${(bigSize / 1024).toFixed(0)} KB pod: median ${f2(bigRun.medianMs)} ms, mean ${f2(bigRun.meanMs)} ms`);
}

await main();
