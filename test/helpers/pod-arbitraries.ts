/**
 * Generated pods and stream annotations for the property and fuzz tests (issue 8's fuzz run):
 * container, init and ephemeral container names that clash with sidelog's, volumes of every kind
 * at the log directories, Windows and Linux pods, forged statuses, annotations close to the
 * 256 KiB limit; streams with names that derive sidelog's own, regexes the agents refuse, outputs
 * that need other Fluentd images or other AWS Secrets. `policy` is the golden policy with those
 * outputs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import type { Container, Pod, Volume } from '../../webhook/core/pod.js';
import { parsePolicy } from '../../webhook/core/policy.js';

const ROOT = join(import.meta.dirname, '../..');
/** The golden policy, with AWS outputs on two Secrets and one output pinned to another Fluentd image. */
export const policy = parsePolicy(
  readFileSync(join(ROOT, 'test/golden/policy.yaml'), 'utf8')
    .replace('cloudwatch:  {type: cloudwatch, region: us-east-1,', 'cloudwatch:  {type: cloudwatch, credentialsSecret: other-aws, region: us-east-1,')
    .replace('stdout:      {type: stdout}', 'stdout:      {type: stdout, fluentdImage: "registry.example.com/fluentd-custom:1"}'),
);

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

export const podArb = fc
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

export const annotationsArb = fc.record({
  streams: fc.array(streamArb, { minLength: 1, maxLength: 5 }).map((s) => toYaml(s)),
  agent: fc.constantFrom(undefined, 'fluent-bit', 'fluentd'),
  resources: fc.constantFrom(undefined, 'agent: {limits: {memory: 512Mi}}', 'agent: {limits: {memory: 64Gi}}'),
});

