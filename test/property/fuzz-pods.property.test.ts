/**
 * Issue 8's fuzz run: generated pods (container, init and ephemeral container names that clash
 * with sidelog's, volumes of every kind at the log directories, Windows and Linux pods, forged
 * statuses, annotations close to the 256 KiB limit) with generated stream annotations (names that
 * derive sidelog's own, regexes the agents refuse, outputs that need other Fluentd images or other
 * AWS Secrets) go through `mutate`. For every one: no crash, the input untouched, a known skip code
 * or a refusal naming a field, and when a patch comes back: a pod the API server accepts, configs
 * that hold exactly the intended directives, and a second pass that changes nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { mutate } from '../../webhook/inject/mutate.js';
import type { Container, Pod, Volume } from '../../webhook/core/pod.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { SKIP_CODES } from '../../webhook/core/should-inject.js';
import { checkIntended, sidecarProblems } from '../helpers/injection-checks.js';
import { checkPodInvariants, podViolations } from '../helpers/invariants.js';
import { patchOracleProblems } from '../helpers/patch-oracle.js';

const ROOT = join(import.meta.dirname, '../..');
/** The golden policy, with AWS outputs on two Secrets and one output pinned to another Fluentd image. */
const policy = parsePolicy(
  readFileSync(join(ROOT, 'test/golden/policy.yaml'), 'utf8')
    .replace('cloudwatch:  {type: cloudwatch, region: us-east-1,', 'cloudwatch:  {type: cloudwatch, credentialsSecret: other-aws, region: us-east-1,')
    .replace('stdout:      {type: stdout}', 'stdout:      {type: stdout, fluentdImage: "registry.example.com/fluentd-custom:1"}'),
);
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

const CONTAINER_NAMES = ['web', 'worker', 'sidelog-agent', 'sidelog-app', 'sidelog-a', 'sidelog-agent-2', 'sidelog-x', 'istio-proxy'];
const VOLUME_NAMES = ['logs', 'data', 'sidelog-config', 'sidelog-state', 'sidelog-buffer', 'sidelog-logs-0', 'sidelog-cred-gcl', 'cfg'];
const DIRS = ['/var/log/app', '/var/log/x', '/data/logs', '/srv/a'];
const REGEXES = [
  '^(?<m>.*)$', '(?<level>\\w+) (?<msg>.*)', '^(?<m>.*)\\x$', '\\c', '[a-\\d]', '\\8', '^(?<m>a)\\1{2}$', '[]', '[^]', '\\u12',
  '^(?<m>.*){2147483648}$', '(?<a>${X})', '/(?<m>.*)/', '(?<m>\\xFF)', '(?<m>\\u00e9+)', '(?<=a)(?<m>b)', '(?<m>[[:alpha:]]+)',
];

const volumeOf = (name: string, kind: number): Volume =>
  [{ name, emptyDir: {} }, { name, emptyDir: { sizeLimit: '1Gi' } }, { name, configMap: { name: 'c' } }, { name, hostPath: { path: '/var/log' } }, { name, persistentVolumeClaim: { claimName: 'p' } }][kind % 5]!;

const containerArb = (name: string) =>
  fc.record({ mounts: fc.array(fc.tuple(fc.constantFrom(...VOLUME_NAMES), fc.constantFrom(...DIRS, '/tmp', '/cache'), fc.constantFrom(undefined, 'sub', '$(POD)')), { maxLength: 3 }) }).map(({ mounts }): Container => {
    const seen = new Set<string>();
    const volumeMounts = mounts
      .filter(([, path]) => (seen.has(path) ? false : (seen.add(path), true)))
      .map(([volume, mountPath, sub]) => ({ name: volume, mountPath, ...(sub === '$(POD)' ? { subPathExpr: sub } : sub ? { subPath: sub } : {}) }));
    return { name, image: 'registry.example.com/app:1', ...(volumeMounts.length ? { volumeMounts } : {}) };
  });

const podArb = fc
  .record({
    names: fc.uniqueArray(fc.constantFrom(...CONTAINER_NAMES.filter((n) => n !== 'web')), { maxLength: 3 }).map((others) => ['web', ...others]),
    split: fc.nat(),
    volumes: fc.uniqueArray(fc.tuple(fc.constantFrom(...VOLUME_NAMES), fc.nat()), { maxLength: 5, selector: ([n]) => n }),
    os: fc.constantFrom(undefined, undefined, undefined, undefined, undefined, undefined, 'linux', 'windows'),
    restartPolicy: fc.constantFrom(undefined, 'Always', 'OnFailure', 'Never'),
    grace: fc.constantFrom(undefined, 0, 10, 30),
    status: fc.constantFrom(undefined, '', 'x', '{}', '{"version":1,"native":true,"streams":[{"name":"app","mode":"streaming","container":"web"}]}'),
    padding: fc.constantFrom(0, 0, 0, 0, 0, 1000, 200_000, 258_000, 260_000, 261_500),
  })
  .chain((p) => {
    const [first, ...rest] = p.names;
    const cut = rest.length ? p.split % (rest.length + 1) : 0;
    const ephemeral = rest.length > 1 && p.split % 3 === 0 ? [rest.pop()!] : [];
    return fc.tuple(fc.constant(p), fc.tuple(...[first!, ...rest.slice(0, cut)].map(containerArb)), fc.tuple(...rest.slice(cut).map(containerArb)), fc.constant(ephemeral));
  })
  .map(([p, containers, inits, ephemeral]): Pod => {
    const volumes = p.volumes.map(([name, kind]) => volumeOf(name, kind));
    const names = new Set(volumes.map((v) => v.name));
    // Mounts only of volumes the pod has, as the API server requires of the pod sidelog receives.
    const fix = (c: Container): Container => ({ ...c, ...(c.volumeMounts ? { volumeMounts: c.volumeMounts.filter((m) => names.has(m.name)) } : {}) });
    const annotations: Record<string, string> = {};
    if (p.status !== undefined) annotations['sidelog.io/status'] = p.status;
    if (p.padding) annotations['kubectl.kubernetes.io/last-applied-configuration'] = 'x'.repeat(p.padding);
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'fuzz', namespace: 'team-a', annotations },
      spec: {
        containers: containers.map(fix),
        ...(inits.length ? { initContainers: inits.map((c) => ({ ...fix(c), restartPolicy: 'Always' })) } : {}),
        ...(ephemeral.length ? { ephemeralContainers: ephemeral.map((name) => ({ name, image: 'busybox' })) } : {}),
        ...(volumes.length ? { volumes } : {}),
        ...(p.os ? { os: { name: p.os } } : {}),
        ...(p.restartPolicy ? { restartPolicy: p.restartPolicy } : {}),
        ...(p.grace !== undefined ? { terminationGracePeriodSeconds: p.grace } : {}),
      },
    };
  });

const streamArb = fc.record(
  {
    path: fc.tuple(fc.constantFrom(...DIRS, '/var/log/app/sub'), fc.constantFrom('app.log', 'agent.log', 'a.log', 'x-[0-9].log', '*.log', 'sidelog.log')).map(([d, f]) => `${d}/${f}`),
    container: fc.constantFrom('web', 'web', 'web', 'web', 'worker', 'sidelog-app'),
    name: fc.constantFrom(undefined, undefined, 'agent', 'app', 'a', 'x', 'agent-2'),
    output: fc.constantFrom(undefined, undefined, 'stdout', 'kafka-logs', 's3-archive', 'cloudwatch', 'gcl', 'loki', 'aggregator', 'es-main', 'syslog', 'http-sink'),
    parser: fc.constantFrom(undefined, 'json', 'regex', 'multiline-java'),
    regex: fc.constantFrom(...REGEXES),
    critical: fc.constantFrom(undefined, true, false),
    params: fc.constantFrom(undefined, { topic: 'team-a.orders' }, { topic: `team-a.${'a'.repeat(200)}-` }),
  },
  { requiredKeys: ['path', 'container'] },
).map((s) => {
  const out: Record<string, unknown> = { ...s };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  if (out.parser !== 'regex') delete out.regex;
  if (out.output === undefined) for (const k of ['parser', 'regex', 'critical', 'params']) delete out[k];
  if (out.params !== undefined && out.output !== 'kafka-logs') delete out.params;
  return out;
});

const annotationsArb = fc.record({
  streams: fc.array(streamArb, { minLength: 1, maxLength: 5 }).map((s) => toYaml(s)),
  agent: fc.constantFrom(undefined, 'fluent-bit', 'fluentd'),
  resources: fc.constantFrom(undefined, 'agent: {limits: {memory: 512Mi}}', 'agent: {limits: {memory: 64Gi}}'),
});

describe('generated pods and annotations through mutate', () => {
  it(`never crash and never produce an invalid pod or an escaped config (${RUNS} runs)`, () => {
    const seen = { injected: 0, denied: 0, withAgent: 0, dropped: 0, skips: new Map<string, number>() };
    let validInputs = 0;
    fc.assert(
      fc.property(podArb, annotationsArb, fc.constantFrom('enabled', 'enabled', 'required'), fc.constantFrom(28, 30), (pod, ann, enforcement, minor) => {
        pod.metadata!.annotations = {
          ...pod.metadata!.annotations,
          'sidelog.io/streams': ann.streams,
          ...(ann.agent ? { 'sidelog.io/agent': ann.agent } : {}),
          ...(ann.resources ? { 'sidelog.io/resources': ann.resources } : {}),
        };
        if (podViolations(pod).length) return; // the API server would have refused it before sidelog saw it
        validInputs++;
        const original = structuredClone(pod);
        const kubeVersion = { major: 1, minor };
        const result = mutate({ object: pod, namespace: 'team-a', policy, enforcement: enforcement as 'enabled' | 'required', kubeVersion });
        expect(pod).toEqual(original);
        expect(patchOracleProblems(original, pod, result)).toEqual([]);
        for (const w of result.warnings) expect(w).toMatch(/^sidelog: [^\n]*$/);
        if (!result.allowed) {
          seen.denied++;
          expect(result.denial).toMatch(/^sidelog: (sidelog\.io\/|spec\.)/);
          expect(result.patch).toEqual([]);
          return;
        }
        if (!result.patch.length) {
          expect(SKIP_CODES).toContain(result.skip?.code);
          seen.skips.set(result.skip!.code, (seen.skips.get(result.skip!.code) ?? 0) + 1);
          return;
        }
        seen.injected++;
        if (result.configs.length) seen.withAgent++;
        if (result.warnings.some((w) => w.includes('not injected'))) seen.dropped++;
        const mutated = result.mutated as Pod;
        expect(checkPodInvariants(original, mutated, result.patch)).toEqual([]);
        expect(checkIntended(result, 'team-a')).toEqual([]);
        expect(sidecarProblems(original, mutated)).toEqual([]);
        const again = mutate({ object: mutated, namespace: 'team-a', policy, enforcement: enforcement as 'enabled' | 'required', kubeVersion });
        expect(again.patch).toEqual([]);
        expect(again.skip?.code).toBe('already-injected');
      }),
      { numRuns: RUNS },
    );
    // The generators must reach every outcome that matters, or the run proves little.
    expect(validInputs).toBeGreaterThan(RUNS * 0.8);
    expect(seen.injected).toBeGreaterThan(RUNS * 0.15);
    expect(seen.withAgent).toBeGreaterThan(RUNS * 0.05);
    expect(seen.denied).toBeGreaterThan(RUNS * 0.05);
    expect(seen.dropped).toBeGreaterThan(RUNS * 0.05);
    for (const code of ['windows', 'annotations-too-large', 'run-to-completion', 'invalid']) expect(seen.skips.get(code) ?? 0).toBeGreaterThan(0);
  });
});
