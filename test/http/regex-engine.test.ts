/**
 * The regex engine (Oniguruma, ~12 MB resident) is loaded by `sidelog serve` on the first pod that
 * asks for a regex parser, not at start. A real `sidelog serve` process starts with it unloaded
 * (jest's setup loads it only in the test process): its answers must equal those of a server whose
 * engine was loaded from the start, for the first regex pods (concurrent, valid and invalid), for
 * those after them, and for pods with no regex before them.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadCases, podOf } from '../golden/harness.js';
import { type Client, type TestServer, admissionReview, client, startTestServer } from './client.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/sidelog.js');
const POLICY = 'test/golden/policy.yaml';
const LOADED = 'regex engine loaded: the first pod asking for a regex parser';

const cases = loadCases();
const plain = cases.find((c) => c.name === 'mixed-native')!;
const withRegex = cases.find((c) => c.name === 'fb-parser-regex')!;

/** The regex golden's pod with `regex` replaced. */
function regexPod(regex: string, name: string): unknown {
  const pod = structuredClone(podOf(withRegex.input)) as { metadata: { name: string; annotations: Record<string, string> } };
  pod.metadata.name = name;
  pod.metadata.annotations['sidelog.io/streams'] = `- path: /var/log/app/regex.log\n  output: stdout\n  parser: regex\n  regex: ${JSON.stringify(regex)}\n`;
  return pod;
}

interface Child {
  readonly child: ChildProcessWithoutNullStreams;
  readonly client: Client;
  /** The JSON log lines written so far. */
  logs(): Array<{ msg?: string }>;
}

function serveChild(): Promise<Child> {
  const certDir = mkdtempSync(join(tmpdir(), 'sidelog-regex-'));
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--preview-port', '0', '--host', '127.0.0.1', '--cert-dir', certDir, '--policy', POLICY, '--kube-version', '1.30'], {
    cwd: ROOT,
    env: { ...process.env, SIDELOG_LOG_LEVEL: 'info' },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolvePromise, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving on https:\/\/localhost:(\d+) with a self-signed certificate \(CA: (.+)\)/.exec(err);
      if (m) {
        const logs = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string });
        resolvePromise({ child, client: client(Number(m[1]), readFileSync(m[2]!, 'utf8')), logs });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
}

describe('the regex engine, loaded by the first pod that asks for a regex', () => {
  let lazy: Child;
  let loaded: TestServer;

  beforeAll(async () => {
    [lazy, loaded] = await Promise.all([serveChild(), startTestServer({ policy: POLICY, kubeVersion: '1.30' })]);
  });

  afterAll(async () => {
    lazy.client.close();
    lazy.child.kill('SIGTERM');
    await loaded.close();
  });

  /** Both servers' answers to the same review. */
  async function both(pod: unknown, uid: string): Promise<[unknown, unknown]> {
    const body = JSON.stringify(admissionReview(pod, { namespace: 'team-a', uid }));
    const [a, b] = await Promise.all([lazy.client.post('/mutate', body), loaded.client.post('/mutate', body)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    return [a.json, b.json];
  }

  it('answers as a server whose engine was loaded from the start, before, during and after the load', async () => {
    // No regex yet: the engine stays unloaded.
    const [first, firstLoaded] = await both(podOf(plain.input), 'plain-1');
    expect(first).toEqual(firstLoaded);
    expect(lazy.logs().filter((l) => l.msg === LOADED)).toHaveLength(0);

    // The first regex pods arrive together, valid and invalid: they wait for one load.
    const firstRegex = [
      [podOf(withRegex.input), 'regex-golden'],
      [regexPod('^(?<message>[a-', 'unclosed'), 'regex-unclosed'],
      [regexPod('^(?<message>.*)(?<=a+)$', 'lookbehind'), 'regex-lookbehind'],
      [regexPod('^(?<level>\\w+) (?<message>.*)$', 'word'), 'regex-word'],
    ] as const;
    const answers = await Promise.all(firstRegex.map(([pod, uid]) => both(pod, uid)));
    for (const [mine, reference] of answers) expect(mine).toEqual(reference);
    // Each kind of answer is there: a patch for the valid ones, the engine's own refusal for the invalid one.
    const [golden, unclosed] = answers.map(([a]) => a as { response: { patch?: string; warnings?: string[] } });
    expect(golden!.response.patch).toEqual(expect.any(String));
    expect(JSON.stringify(unclosed!.response)).toContain('Onigmo');
    expect(JSON.stringify(unclosed!.response)).not.toContain('not loaded');
    expect(lazy.logs().filter((l) => l.msg === LOADED)).toHaveLength(1);

    // After the load: regex pods, remembered or not, and plain pods.
    for (const [pod, uid] of [
      [podOf(withRegex.input), 'regex-again'],
      [regexPod('^(?<message>[a-', 'unclosed'), 'regex-unclosed-again'],
      [podOf(plain.input), 'plain-2'],
    ] as const) {
      const [mine, reference] = await both(pod, uid);
      expect(mine).toEqual(reference);
    }
    expect(lazy.logs().filter((l) => l.msg === LOADED)).toHaveLength(1);
  });
});

describe('a regex engine that fails to load', () => {
  // In a plain Node.js process (jest's module registry would hand back the module it already
  // loaded): the built module, with the first load given bytes that are not WebAssembly.
  it('is tried again with a fresh copy once RETRY_LOAD_MS have passed, and fails at once before', () => {
    const script = `
      const r = await import(${JSON.stringify(join(ROOT, 'dist/webhook/core/regex.js'))});
      let now = 1_000_000;
      Date.now = () => now;
      r.forgetRegexEngineForTests({ brokenLoads: 1 });
      const work = () => r.onigurumaError('(?<message>[a-');
      const out = [];
      const attempt = async () => {
        try {
          out.push({ answer: await r.withRegexEngine(work), loaded: r.regexEngineLoaded() });
        } catch (e) {
          out.push({ error: String(e.message), loaded: r.regexEngineLoaded() });
        }
      };
      await attempt();
      now += r.RETRY_LOAD_MS - 1;
      await attempt();
      now += 1;
      await attempt();
      process.stdout.write(JSON.stringify(out));
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });
    expect(run.stderr).toBe('');
    const [first, early, later] = JSON.parse(run.stdout) as Array<{ answer?: string; error?: string; loaded: boolean }>;
    expect(first).toEqual({ error: expect.stringMatching(/WebAssembly/), loaded: false });
    // The same failure, at once: no second attempt within the interval.
    expect(early).toEqual({ error: first!.error, loaded: false });
    expect(later).toEqual({ answer: expect.stringContaining('premature end of char-class'), loaded: true });
  });

  it('makes /mutate answer a regex pod 500 INTERNAL, and a pod without a regex as usual', () => {
    const dist = (path: string) => JSON.stringify(join(ROOT, 'dist', path));
    const script = `
      import { readFileSync, mkdtempSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      import https from 'node:https';
      const r = await import(${dist('webhook/core/regex.js')});
      r.forgetRegexEngineForTests({ brokenLoads: 1 });
      const { loadConfig } = await import(${dist('webhook/config.js')});
      const { startServer } = await import(${dist('webhook/main.js')});
      const running = await startServer(loadConfig({ port: 0, previewPort: 0, host: '127.0.0.1', certDir: mkdtempSync(join(tmpdir(), 'sidelog-broken-')), logLevel: 'silent', policy: ${JSON.stringify(POLICY)}, kubeVersion: '1.30' }, {}));
      const ca = readFileSync(running.caFile, 'utf8');
      const post = (body) => new Promise((resolve, reject) => {
        const q = https.request({ host: '127.0.0.1', port: running.port, path: '/mutate', method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (s) => {
          let t = '';
          s.on('data', (d) => (t += d));
          s.on('end', () => resolve({ status: s.statusCode, body: JSON.parse(t) }));
        });
        q.on('error', reject);
        q.end(body);
      });
      const out = [];
      for (const body of process.argv.slice(1)) out.push(await post(body));
      await running.close();
      process.stdout.write(JSON.stringify(out));
    `;
    const review = (pod: unknown, uid: string) => JSON.stringify(admissionReview(pod, { namespace: 'team-a', uid }));
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, review(podOf(withRegex.input), 'r1'), review(podOf(plain.input), 'p1'), review(podOf(withRegex.input), 'r2')], { cwd: ROOT, encoding: 'utf8', timeout: 30000 });
    expect(run.stderr).toBe('');
    const [regex, other, again] = JSON.parse(run.stdout) as Array<{ status: number; body: any }>;
    expect(regex).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: expect.any(String) } } });
    expect(other!.status).toBe(200);
    expect(other!.body.response).toMatchObject({ uid: 'p1', allowed: true, patch: expect.any(String) });
    // Within the retry interval: refused at once, the same way.
    expect(again).toEqual(regex);
  });
});
