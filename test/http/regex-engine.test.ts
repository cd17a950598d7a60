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
});
