/**
 * `npm run bench:instructions`: instructions per review, counted by valgrind's callgrind, for the
 * bench's servers side by side (the bare baseline; the webhook on identical pods, on distinct pods
 * of one shape, on pods of distinct shapes). A script, not a test: it prints figures and ratios.
 *
 * CPU time per review moves by up to 2x between two runs of one build on a shared machine;
 * instruction counts repeat within about 1 %. Each server runs under
 * `valgrind --tool=callgrind --instr-atstart=no` (user-space instructions of the whole process,
 * V8's helper threads included), with the Deployment's NODE_OPTIONS and log level. After the
 * warm-up reviews the counting is switched on (`callgrind_control -i on`), then the measured
 * reviews go one at a time over one keep-alive TLS connection. What instructions leave out: the
 * kernel's work (socket writes, the same for every server), and what an instruction costs (cache
 * misses, a `rep movsb` copy counted byte by byte). Compare them across builds, next to the CPU
 * times of `npm run bench`, not instead of them.
 *
 * Options (env): INSTR_WARMUP (default 1500), INSTR_REVIEWS (default 3000; a third of it for
 * distinct shapes), INSTR_ROWS (a comma list of: baseline, identical, distinct, shapes), and
 * INSTR_NODE (the Node.js binary, default the one running this script). Two servers run at once.
 * Needs valgrind (callgrind and callgrind_control) on the PATH. Takes a few minutes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { Agent } from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueCa, issueServing } from '../../certs/issue.js';
import { type Requests, nextBody, templatesApply } from './rows.js';
import { ROOT, post, shippedEnv, shippedLogLevel, shippedNodeArgs, shippedNodeOptions } from './scenarios.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const WARMUP = Number(process.env.INSTR_WARMUP ?? 1500);
const REVIEWS = Number(process.env.INSTR_REVIEWS ?? 3000);
const NODE = process.env.INSTR_NODE ?? process.execPath;
const ROWS = (process.env.INSTR_ROWS ?? 'baseline,identical,distinct,shapes').split(',');

/** What each row sends: the bench's requests (rows.ts); the baseline gets the identical review. */
const ROW_REQUESTS: Record<string, Requests> = { baseline: 'identical', identical: 'identical', distinct: 'distinct', shapes: 'shapes' };

interface Counted {
  readonly row: string;
  readonly reviews: number;
  readonly instructions: number;
}

async function count(row: string, dir: string, ca: string): Promise<Counted> {
  const reviews = row === 'shapes' ? Math.round(REVIEWS / 3) : REVIEWS;
  const kind = row === 'baseline' ? 'baseline' : 'webhook';
  const env = shippedEnv();
  const level = shippedLogLevel();
  if (level !== undefined) env.SIDELOG_LOG_LEVEL = level;
  const args = ['--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${join(dir, `${row}.callgrind`)}`, NODE, ...shippedNodeArgs(), join(HERE, 'servers.js'), kind, join(dir, 'tls.crt'), join(dir, 'tls.key'), join(ROOT, 'test/golden/policy.yaml'), join(dir, 'answer.json')];
  const child = spawn('valgrind', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const port = await new Promise<number>((done, fail) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port=(\d+)/.exec(out);
      if (m) done(Number(m[1]));
    });
    child.once('exit', () => fail(new Error(`${row}: the server under valgrind exited before listening:\n${stderr.slice(-2000)}`)));
  });
  child.stdout.resume(); // the log: drained and dropped, as the bench does
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  const requests = ROW_REQUESTS[row]!;
  const send = async (i: number) => {
    const answer = await post(agent, port, '/mutate', nextBody(requests, 'i'));
    if (answer.status !== 200) throw new Error(`${row}: review ${i} answered ${answer.status}`);
  };
  for (let i = 0; i < WARMUP; i++) await send(i);
  execFileSync('callgrind_control', ['-i', 'on', String(child.pid)], { stdio: 'ignore' });
  for (let i = WARMUP; i < WARMUP + reviews; i++) await send(i);
  agent.destroy();
  child.kill('SIGTERM');
  await exited;
  const collected = /Collected : (\d+)/.exec(stderr);
  if (!collected) throw new Error(`${row}: callgrind printed no count:\n${stderr.slice(-2000)}`);
  return { row, reviews, instructions: Number(collected[1]) };
}

if (!templatesApply()) throw new Error('bench:instructions: a distinct-pod template did not apply');
const dir = mkdtempSync(join(tmpdir(), 'sidelog-instructions-'));
const ca = await issueCa();
const serving = await issueServing({ ca, dnsNames: ['localhost'], ips: ['127.0.0.1'] });
writeFileSync(join(dir, 'tls.crt'), serving.cert);
writeFileSync(join(dir, 'tls.key'), serving.key);
// The baseline answers a fixed body of the webhook's answer's size (as in the bench).
writeFileSync(join(dir, 'answer.json'), JSON.stringify({ answer: 'x'.repeat(13_880) }));

console.log(`sidelog instructions per review: callgrind, ${WARMUP} warm-up reviews, then ${REVIEWS} counted (${Math.round(REVIEWS / 3)} for distinct shapes), one at a time, ${execFileSync(NODE, ['--version']).toString().trim()}, node flags "${shippedNodeArgs().join(' ')}", NODE_OPTIONS="${shippedNodeOptions()}"`);
const results: Counted[] = [];
for (let i = 0; i < ROWS.length; i += 2) results.push(...(await Promise.all(ROWS.slice(i, i + 2).map((row) => count(row, dir, ca.cert)))));
const perReview = (c: Counted) => c.instructions / c.reviews;
const base = results.find((r) => r.row === 'baseline');
console.log('| row | instructions per review | × baseline |');
console.log('|---|---|---|');
for (const r of results) console.log(`| ${r.row} | ${Math.round(perReview(r)).toLocaleString('en-US')} | ${base ? (perReview(r) / perReview(base)).toFixed(2) : '-'} |`);
