/**
 * `node dist/test/bench/mutate-core.js`: the injection core alone (`mutate`), in process, on pods
 * it has never seen. A script, not a test: it prints figures and asserts nothing.
 *
 * Three pods, the bench's realistic one (test/golden/cases/mixed-native: two containers, three
 * streams, agent and streaming mixed, native sidecars) and the same pod grown to ~64 KB (1,500 env
 * vars on one container) and to ~1 MB (18,000 env vars over both containers). Each call gets a
 * distinct copy (a unique label), made before the clock starts, so no memo keyed by the pod helps.
 * The `new-streams` row goes further: each copy also names another log file, so its streams, its
 * annotation and its agent config are new too (no memo helps at all: the render cost in full).
 *
 * Options (env): MUTATE_MS (default 3000) time per pod; MUTATE_ONLY=realistic|64k|1m|new-streams runs one row,
 * for `node --cpu-prof dist/test/bench/mutate-core.js` profiles of one shape.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { mutate } from '../../webhook/inject/mutate.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import type { Pod } from '../../webhook/core/pod.js';
import { ROOT } from './scenarios.js';

const MS = Number(process.env.MUTATE_MS ?? 3000);
const ONLY = process.env.MUTATE_ONLY;
const policyFile = join(ROOT, 'test/golden/policy.yaml');
const policy = parsePolicy(readFileSync(policyFile, 'utf8'), policyFile);
const base = parseYaml(readFileSync(join(ROOT, 'test/golden/cases/mixed-native/input.yaml'), 'utf8')) as Pod;

/** The bench's big-pod env vars (test/bench/bench.ts bigPod). */
function envVars(count: number, from = 0) {
  return Array.from({ length: count }, (_, i) => ({ name: `SETTING_${String(from + i).padStart(4, '0')}`, value: `value-${from + i}-${'x'.repeat(14)}` }));
}

const shapes: Record<string, () => Pod> = {
  realistic: () => structuredClone(base),
  '64k': () => {
    const p = structuredClone(base);
    p.spec.containers[0]!.env = envVars(1500);
    return p;
  },
  '1m': () => {
    const p = structuredClone(base);
    p.spec.containers[0]!.env = envVars(9000);
    p.spec.containers[1]!.env = envVars(9000, 9000);
    return p;
  },
};

let round = 0;
/** Distinct copies: JSON text with a unique label, parsed ahead of time (as the server would have). */
function copies(shape: () => Pod, n: number, newStreams = false): Pod[] {
  const text = JSON.stringify(shape());
  round++;
  return Array.from({ length: n }, (_, i) => {
    const unique = text.replace('"labels":{"app":"shop"}', `"labels":{"app":"shop","pod-template-hash":"h${round}-${i}"}`);
    return JSON.parse(newStreams ? unique.replace('/var/log/app/app.log', `/var/log/app/app-${round}-${i}.log`) : unique) as Pod;
  });
}

const rows: Array<[string, () => Pod, boolean]> = [...Object.entries(shapes).map(([name, shape]): [string, () => Pod, boolean] => [name, shape, false]), ['new-streams', shapes.realistic!, true]];
for (const [name, shape, newStreams] of rows) {
  if (ONLY && ONLY !== name) continue;
  const size = JSON.stringify(shape()).length;
  const n = size > 500_000 ? 40 : size > 50_000 ? 400 : 4000;
  let pods = copies(shape, n, newStreams);
  const run = (p: Pod) => mutate({ object: p, namespace: 'team-a', policy, kubeVersion: { major: 1, minor: 30 } });
  const first = run(pods[0]!);
  if (!first.allowed || first.patch.length === 0) throw new Error(`mutate-core: the ${name} pod was not injected (${first.skip?.reason})`);
  for (let i = 0; i < Math.min(n, 200); i++) run(pods[i]!); // warm-up
  const samples: number[] = [];
  const until = performance.now() + MS;
  let i = 0;
  while (performance.now() < until) {
    if (i === n) {
      pods = copies(shape, n, newStreams); // fresh objects: nothing seen before
      i = 0;
    }
    const p = pods[i++]!;
    const t = performance.now();
    run(p);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const q = (f: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * f))]!;
  const us = (ms: number) => (ms * 1000).toFixed(1).padStart(8);
  console.log(`${name.padEnd(9)} ${String(Math.round(size / 1024)).padStart(5)} KB  calls ${String(samples.length).padStart(6)}  mean ${us(mean)} µs  p50 ${us(q(0.5))} µs  p90 ${us(q(0.9))} µs`);
}
