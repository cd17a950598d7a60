/**
 * The three loads that used to crash the server (issue 8), replayed against a real `sidelog serve`
 * process started with the Deployment's own NODE_OPTIONS, on loopback:
 *   (a) 250 sequential distinct pods, each with a ~60 KB streams annotation of 32 regex streams;
 *   (b) 40 concurrent ~4 MB AdmissionReviews (under the 4 MiB body limit);
 *   (c) 10 concurrent 1 MiB YAML bodies to /preview (one big pod, or a thousand small ones).
 * Shared by the behaviour test (test/http/crash-scenarios.test.ts) and `npm run bench`, which
 * prints the peak RSS of each.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { issueCa, issueServing } from '../../certs/issue.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root, from test/bench/ or from its build in dist/test/bench/. */
export const ROOT = resolve(HERE, HERE.includes('/dist/') ? '../../..' : '../..');

/** The Deployment's container, as shipped. */
function shippedContainer(): { env: Array<{ name: string; value?: string }>; resources: { limits: { memory: string } } } {
  const deployment = parseYaml(readFileSync(join(ROOT, 'manifests/base/deployment.yaml'), 'utf8'));
  return deployment.spec.template.spec.containers[0];
}

/** NODE_OPTIONS as the Deployment sets them. */
export function shippedNodeOptions(): string {
  return shippedContainer().env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
}

/**
 * The flags the image's ENTRYPOINT gives `node` before the script (Dockerfile): V8 flags that
 * NODE_OPTIONS cannot carry.
 */
export function shippedNodeArgs(): string[] {
  // The runtime stage's: the last ENTRYPOINT.
  const entrypoint = [...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^ENTRYPOINT (\[.*\])\s*$/gm)].pop()?.[1];
  if (entrypoint === undefined) throw new Error('the Dockerfile has no ENTRYPOINT in exec form');
  const argv = JSON.parse(entrypoint) as string[];
  const script = argv.indexOf('bin/sidelog.js');
  if (argv[0] !== 'node' || script < 1) throw new Error(`the Dockerfile's ENTRYPOINT is not \`node [flags] bin/sidelog.js\`: ${entrypoint}`);
  return argv.slice(1, script);
}

/** The Deployment's settings of glibc's allocator (MALLOC_*), for every server a bench starts. */
export function shippedMallocEnv(): Record<string, string> {
  return Object.fromEntries(
    shippedContainer()
      .env.filter((e) => e.name.startsWith('MALLOC_') && e.value !== undefined)
      .map((e) => [e.name, e.value!]),
  );
}

/** This process's environment with the Deployment's MALLOC_* and the given NODE_OPTIONS: a bench server's. */
export function shippedEnv(nodeOptions = shippedNodeOptions()): NodeJS.ProcessEnv {
  return { ...process.env, ...shippedMallocEnv(), NODE_OPTIONS: nodeOptions };
}

/** The number a `--name=N` flag among `flags` gives (NaN without one). */
export function numericFlag(flags: readonly string[], name: string): number {
  const prefix = `--${name}=`;
  return Number(flags.find((f) => f.startsWith(prefix))?.slice(prefix.length) ?? NaN);
}

/** SIDELOG_LOG_LEVEL as the Deployment sets it; undefined leaves the configuration's default. */
export function shippedLogLevel(): string | undefined {
  return shippedContainer().env.find((e) => e.name === 'SIDELOG_LOG_LEVEL')?.value;
}

/** The Deployment's memory limit, in bytes. */
export function shippedMemoryLimit(): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(shippedContainer().resources.limits.memory);
  if (!m) throw new Error(`unexpected memory limit ${shippedContainer().resources.limits.memory}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 ** 3 : 1024 ** 2);
}

/** Peak resident set size of a process so far (Linux VmHWM), in bytes. */
export function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** The child processes of `pid` (its preview processes). */
export function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

/** Whether process `pid` still exists. */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // it exited
  }
}

/** Start a new peak: Linux resets VmHWM to the current RSS on `echo 5 > /proc/PID/clear_refs`. */
function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // it exited
  }
}

/**
 * What the server costs its container while `work` runs, in bytes: the server process and its
 * preview processes together, since a child's memory counts in the same memory limit. Every
 * process's peak (VmHWM) is reset when `work` starts; at the end, the sum of their peaks, an
 * upper bound (the peaks need not have been at the same time), or the highest total RSS sampled
 * every 25 ms if higher (a preview process that died during `work` took its VmHWM with it).
 */
export async function treePeakRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  for (const p of [pid, ...childPids(pid)]) resetPeak(p);
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, [pid, ...childPids(pid)].reduce((sum, p) => sum + statusKb(p, 'VmRSS'), 0) * 1024);
  };
  const timer = setInterval(sample, 25);
  try {
    const result = await work();
    sample();
    peak = Math.max(peak, [pid, ...childPids(pid)].reduce((sum, p) => sum + statusKb(p, 'VmHWM'), 0) * 1024);
    return { result, peak };
  } finally {
    clearInterval(timer);
  }
}

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly previewPort: number;
  readonly ca: string;
  /** Whether the process is still running. */
  alive(): boolean;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * `sidelog serve` as the Deployment runs it: the image's node flags, its NODE_OPTIONS and MALLOC_*, a certificate given as files, on
 * loopback ports of its own.
 */
export async function serveProcess(extraArgs: string[] = [], nodeOptions = shippedNodeOptions()): Promise<ServeProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sidelog-crash-'));
  const ca = await issueCa();
  const serving = await issueServing({ ca, dnsNames: ['localhost'], ips: ['127.0.0.1', '::1'] });
  writeFileSync(join(dir, 'tls.crt'), serving.cert);
  writeFileSync(join(dir, 'tls.key'), serving.key);
  const tlsArgs = ['--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key')];
  const args = ['serve', '--port', '0', '--preview-port', '0', '--host', '127.0.0.1', ...tlsArgs, '--policy', join(ROOT, 'test/golden/policy.yaml'), '--kube-version', '1.30', ...extraArgs];
  const child = spawn(process.execPath, [...shippedNodeArgs(), join(ROOT, 'bin/sidelog.js'), ...args], { cwd: ROOT, env: { ...shippedEnv(nodeOptions), SIDELOG_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  let exited = false;
  const exit = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  return new Promise((resolvePromise, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving on https:\/\/localhost:(\d+).*\n.*previews and metrics on https:\/\/localhost:(\d+)/.exec(err);
      if (m && !err.includes('\u0000started')) {
        err += '\u0000started';
        resolvePromise({
          child,
          pid: child.pid!,
          port: Number(m[1]),
          previewPort: Number(m[2]),
          ca: ca.cert,
          alive: () => !exited,
          stderr: () => err,
          stop: async () => {
            if (!exited) child.kill('SIGTERM');
            await exit;
          },
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
}

export interface Answer {
  readonly status: number;
  readonly json: any;
  readonly bytes: number;
}

/** POST over TLS; resolves with the status and the parsed body (undefined when not JSON). */
export function post(agent: Agent, port: number, path: string, body: string, contentType = 'application/json'): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, servername: 'localhost', headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolvePromise({ status: res.statusCode ?? 0, json, bytes: text.length });
      });
      res.on('error', reject);
    });
    // A server that answers before reading the body (over its cap) may close the connection
    // while the body is still being written: that is an answer, not a failure, once it has come.
    req.on('error', reject);
    req.end(body);
  });
}

/** A review answer is well-formed: an AdmissionReview for this uid, or an error from the table. */
export function wellFormedReview(a: Answer, uid: string): boolean {
  if (a.status === 200) return a.json?.kind === 'AdmissionReview' && a.json.response?.uid === uid && typeof a.json.response.allowed === 'boolean';
  return a.status >= 400 && a.status < 500 && typeof a.json?.error?.code === 'string' && typeof a.json.error.message === 'string';
}

/** A preview answer is well-formed: a preview result (or list of them), or an error from the table. */
export function wellFormedPreview(a: Answer): boolean {
  if (a.status === 200) return (Array.isArray(a.json) ? a.json : [a.json]).every((r: any) => typeof r?.allowed === 'boolean' && Array.isArray(r.patch));
  return a.status >= 400 && a.status < 500 && typeof a.json?.error?.code === 'string';
}

export function review(object: unknown, uid: string, namespace = 'team-a'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace, operation: 'CREATE', object, dryRun: false },
  });
}

/** A pod with 32 regex streams in a ~60 KB annotation; `i` makes it distinct. */
export function regexStreamsPod(i: number): unknown {
  const alternatives = Array.from({ length: 150 }, (_, k) => `w${i}x${k}`).join('|');
  const streams = Array.from({ length: 32 }, (_, s) => `- path: /var/log/s${s}/app.log\n  output: stdout\n  parser: regex\n  regex: '^(?<time>[^ ]+) (?<level>(?:${alternatives})) (?<message>.*)$'\n`).join('');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: `regex-${i}-`, namespace: 'team-a', annotations: { 'sidelog.io/streams': streams } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1' }] },
  };
}

/** A pod of about `bytes` bytes of JSON, mostly environment variables; `i` makes it distinct. */
export function bigPod(bytes: number, i: number): any {
  const env: Array<{ name: string; value: string }> = [];
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: `big-${i}-`, namespace: 'team-a', annotations: { 'sidelog.io/streams': '- {path: /var/log/app/app.log, output: stdout, parser: json}' } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1', env }] },
  };
  const entry = (k: number) => ({ name: `SETTING_${i}_${k}`, value: `value-${k}-${'x'.repeat(40)}` });
  const per = JSON.stringify(entry(999_999)).length + 1;
  for (let k = 0; k < Math.floor((bytes - 400) / per); k++) env.push(entry(k));
  return pod;
}

/** About 1 MiB of YAML: one pod with many variables (`many` false), or a thousand small pods. */
export function previewYaml(many: boolean, i: number): string {
  const limit = 1024 * 1024 - 4096;
  if (!many) {
    let text = toYaml(bigPod(limit, i));
    for (let size = limit; text.length > limit; size = Math.floor(size * 0.95)) text = toYaml(bigPod(size, i));
    return text;
  }
  const docs: string[] = [];
  let size = 0;
  for (let k = 0; size < limit - 600; k++) {
    const doc = toYaml({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${i}-${k}`, namespace: 'team-a', annotations: { 'sidelog.io/streams': `- path: /var/log/a/a${k}.log` } }, spec: { containers: [{ name: 'app', image: 'app' }] } });
    docs.push(doc);
    size += doc.length + 4;
  }
  return docs.join('---\n');
}

export interface ScenarioResult {
  readonly name: string;
  readonly requests: number;
  /** Answers by HTTP status. */
  readonly statuses: Record<number, number>;
  /** Error answers by code. */
  readonly codes: Record<string, number>;
  /** Answers that were not well-formed, or requests that got no answer. */
  readonly malformed: number;
  readonly survived: boolean;
  /** Peak RSS of the server process and its preview processes during the scenario (see treePeakRss), bytes. */
  readonly peakRss: number;
}

function tally(name: string, answers: Array<{ answer?: Answer; ok: boolean }>, server: ServeProcess, peak: number): ScenarioResult {
  const statuses: Record<number, number> = {};
  const codes: Record<string, number> = {};
  for (const a of answers) if (a.answer) statuses[a.answer.status] = (statuses[a.answer.status] ?? 0) + 1;
  for (const a of answers) if (a.answer?.json?.error) codes[a.answer.json.error.code] = (codes[a.answer.json.error.code] ?? 0) + 1;
  return { name, requests: answers.length, statuses, codes, malformed: answers.filter((a) => !a.ok).length, survived: server.alive(), peakRss: server.alive() ? peak : NaN };
}

async function settle<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch {
    return undefined;
  }
}

/** (a) distinct pods with ~60 KB regex annotations, one after another. */
export async function distinctRegexPods(server: ServeProcess, count = 250): Promise<ScenarioResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: server.ca });
  const { result: answers, peak } = await treePeakRss(server.pid, async () => {
    const answers: Array<{ answer?: Answer; ok: boolean }> = [];
    for (let i = 0; i < count && server.alive(); i++) {
      const uid = `a-${i}`;
      const answer = await settle(post(agent, server.port, '/mutate', review(regexStreamsPod(i), uid)));
      answers.push({ ...(answer ? { answer } : {}), ok: answer !== undefined && wellFormedReview(answer, uid) && answer.status === 200 && answer.json.response.patchType === 'JSONPatch' });
    }
    return answers;
  });
  agent.destroy();
  return tally('(a) 250 distinct pods, 60 KB regex annotations', answers, server, peak);
}

/** (b) 40 concurrent reviews of ~4 MB each. */
export async function concurrentBigReviews(server: ServeProcess, count = 40, bytes = 4 * 1024 * 1024 - 64 * 1024): Promise<ScenarioResult> {
  const agent = new Agent({ keepAlive: false, maxSockets: count, ca: server.ca });
  const bodies = Array.from({ length: count }, (_, i) => review(bigPod(bytes, i), `b-${i}`));
  const { result: answers, peak } = await treePeakRss(server.pid, () =>
    Promise.all(
      bodies.map(async (body, i) => {
        const answer = await settle(post(agent, server.port, '/mutate', body));
        return { ...(answer ? { answer } : {}), ok: answer !== undefined && wellFormedReview(answer, `b-${i}`) };
      }),
    ),
  );
  agent.destroy();
  return tally('(b) 40 concurrent 4 MB reviews', answers, server, peak);
}

/** (c) 10 concurrent 1 MiB YAML previews. */
export async function concurrentBigPreviews(server: ServeProcess, count = 10): Promise<ScenarioResult> {
  const agent = new Agent({ keepAlive: false, maxSockets: count, ca: server.ca });
  const bodies = Array.from({ length: count }, (_, i) => previewYaml(i % 2 === 1, i));
  const { result: answers, peak } = await treePeakRss(server.pid, () =>
    Promise.all(
      bodies.map(async (body) => {
        const answer = await settle(post(agent, server.previewPort, '/preview', body, 'application/yaml'));
        return { ...(answer ? { answer } : {}), ok: answer !== undefined && wellFormedPreview(answer) };
      }),
    ),
  );
  agent.destroy();
  return tally('(c) 10 concurrent 1 MiB YAML previews', answers, server, peak);
}
