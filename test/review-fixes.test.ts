/**
 * Regression tests for problems found in review: namespace-prefix escapes, comma paths, the
 * Fluentd Kafka topic, agent restrictions, name clashes, required Jobs on classic clusters,
 * prototype keys, and parse-time blow-ups.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseStreams } from '../webhook/core/annotations.js';
import { mutateChecked as mutate } from './helpers/checked.js';
import { namespaceBounded, parsePolicy } from '../webhook/core/policy.js';
import type { Pod } from '../webhook/core/pod.js';
import { problemText } from '../webhook/core/problems.js';
import { sidecarResources } from '../webhook/core/resources.js';
import { previewObject } from '../webhook/inject/preview.js';
import { basePod, withAnnotations } from './helpers/fixtures.js';
import { checkPodInvariants } from './helpers/invariants.js';

const golden = readFileSync(join(import.meta.dirname, 'golden/policy.yaml'), 'utf8');
const policy = parsePolicy(golden, 'policy.yaml');
const v130 = { major: 1, minor: 30 };

describe('namespace boundaries in the catalog', () => {
  it.each([
    ['{namespace}', false, true],
    ['logs.{namespace}', false, true],
    ['{namespace}.{stream}', false, true],
    ['/ingest/{namespace}/x', false, true],
    ['{namespace}-{stream}', false, false],
    ['logs-{namespace}', false, false],
    ['{stream}{namespace}', false, false],
    ['{namespace}(\\.[a-z0-9-]+)?', true, true],
    ['logs\\.{namespace}', true, true],
    ['^{namespace}$', true, true],
    ['{namespace}(-[a-z0-9]+)?', true, false],
    ['{namespace}.x', true, false],
    ['.*-{namespace}', true, false],
  ])('%s (pattern: %s) bounded: %s', (value, pattern, ok) => {
    expect(namespaceBounded(value, pattern)).toBe(ok);
  });

  it('refuses a policy whose template or pattern lets one namespace name another\'s resource', () => {
    expect(() => parsePolicy('outputs:\n  o: {type: elasticsearch, host: es, index: "{namespace}-{stream}"}\n', 'p.yaml')).toThrow('p.yaml: outputs.o.index: put {namespace} between');
    expect(() => parsePolicy('outputs:\n  k: {type: kafka, brokers: ["k:1"], podParams: {topic: {pattern: "{namespace}(-[a-z]+)?"}}}\n', 'p.yaml')).toThrow('outputs.k.podParams.topic.pattern: put {namespace} between');
  });

  it('keeps namespace "team" out of team-a\'s topics', () => {
    const local = parsePolicy(`${golden}\n  team: {outputs: [kafka-logs]}\n`);
    for (const topic of ['team-a', 'team-a.x', 'team.x/../team-a']) {
      const r = mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': `- {path: /var/log/app/a.log, container: web, output: kafka-logs, params: {topic: "${topic}"}}` }), namespace: 'team', policy: local, kubeVersion: v130 });
      expect(r.patch).toEqual([]);
    }
    const ok = mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': '- {path: /var/log/app/a.log, container: web, output: kafka-logs, params: {topic: team.orders}}' }), namespace: 'team', policy: local, kubeVersion: v130 });
    expect(ok.configs[0]!.text).toMatch(/^\s+Topics\s+team\.orders$/m);
  });
});

describe('paths', () => {
  it('refuses a comma (Fluent Bit reads Path a,b as two files)', () => {
    expect(parseStreams('- {path: "/var/log/x,/sidelog/credentials/gcl/key.json", output: gcl}').problems.map(problemText)[0]).toMatch(/^sidelog\.io\/streams\[0\]\.path: /);
    expect(parseStreams('- {path: "/var/log/a,b/x.log"}').problems).toHaveLength(1);
  });
});

describe('Fluentd Kafka', () => {
  it('takes the topic from sidelog\'s own record field, never from the log line', () => {
    const r = mutate({ object: withAnnotations(basePod(), { 'sidelog.io/agent': 'fluentd', 'sidelog.io/streams': '- {path: /var/log/app/a.log, container: web, output: kafka-logs, parser: json}' }), namespace: 'team-a', policy, kubeVersion: v130 });
    const conf = r.configs[0]!.text;
    expect(conf).toMatch(/^\s+sidelog_kafka_topic\s+team-a$/m);
    expect(conf).toMatch(/^\s+topic_key\s+sidelog_kafka_topic$/m);
    expect(conf).toMatch(/^\s+exclude_topic_key\s+true$/m);
  });
});

describe('namespace agent restrictions', () => {
  const local = parsePolicy(`${golden}\n  fd-only: {outputs: [stdout], agents: [fluentd]}\n  no-agent: {outputs: [stdout], agents: []}\n`);
  const streams = '- {path: /var/log/app/a.log, container: web, output: stdout}\n- {path: /var/log/app/b.log, container: web}';
  it('uses an allowed agent when the policy default is not allowed', () => {
    const r = mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': streams }), namespace: 'fd-only', policy: local, kubeVersion: v130 });
    expect(r.injection?.agent).toBe('fluentd');
    expect(r.warnings).toEqual([]);
  });
  it('drops agent-mode streams when the pod asks for an agent the namespace does not allow', () => {
    const r = mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': streams, 'sidelog.io/agent': 'fluent-bit' }), namespace: 'fd-only', policy: local, kubeVersion: v130 });
    expect(r.injection?.streams.map((s) => s.mode)).toEqual(['streaming']);
    expect(r.warnings[0]).toContain('sidelog.io/agent: agent fluent-bit is not allowed in namespace fd-only');
  });
  it('injects no agent where none is allowed', () => {
    const r = mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': streams }), namespace: 'no-agent', policy: local, kubeVersion: v130 });
    expect(r.injection?.agent).toBeUndefined();
    expect(r.injection?.streams.map((s) => s.mode)).toEqual(['streaming']);
  });
});

describe('name clashes', () => {
  it('leaves the agent out, with a warning, when a volume it needs already exists; the pod stays valid', () => {
    const pod = withAnnotations(basePod(), { 'sidelog.io/streams': '- {path: /var/log/app/a.log, container: web, output: stdout}\n- {path: /var/log/app/b.log, container: web}' });
    pod.spec.volumes!.push({ name: 'sidelog-state', emptyDir: {} });
    const r = mutate({ object: pod, namespace: 'team-a', policy, kubeVersion: v130 });
    expect(r.warnings.join()).toContain('a volume named sidelog-state already exists');
    expect(r.injection?.streams.map((s) => s.mode)).toEqual(['streaming']);
    expect(checkPodInvariants(pod, r.mutated as Pod, r.patch)).toEqual([]);
  });

  it('gives a volume shared at several subPaths distinct sidecar mount paths', () => {
    const pod = withAnnotations(basePod(), { 'sidelog.io/streams': '- {path: /a/x.log, container: web}\n- {path: /b/y.log, container: web}\n- {path: /c/z.log, container: web}' });
    pod.spec.volumes!.push({ name: 'data', emptyDir: {} }, { name: 'data-1', emptyDir: {} });
    pod.spec.containers[0]!.volumeMounts!.push({ name: 'data', mountPath: '/a', subPath: 'a' }, { name: 'data', mountPath: '/b', subPath: 'b' }, { name: 'data-1', mountPath: '/c' });
    const r = mutate({ object: pod, namespace: 'team-a', policy, kubeVersion: v130 });
    expect(r.injection?.streams).toHaveLength(3);
    expect(checkPodInvariants(pod, r.mutated as Pod, r.patch)).toEqual([]);
  });
});

describe('required namespaces', () => {
  it('refuse an invalid Job pod on a classic cluster instead of letting it through', () => {
    const pod = withAnnotations(basePod(), { 'sidelog.io/streams': '- {path: relative.log}' });
    pod.spec.restartPolicy = 'Never';
    const r = mutate({ object: pod, namespace: 'team-a', policy, enforcement: 'required', kubeVersion: { major: 1, minor: 27 } });
    expect(r.allowed).toBe(false);
  });
});

describe('hostile shapes', () => {
  it('does not trip over namespaces or params named like Object.prototype members', () => {
    const r = mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': '- {path: /var/log/app/a.log, container: web, output: stdout, params: {constructor: x}}' }), namespace: 'constructor', policy, kubeVersion: v130 });
    expect(r.allowed).toBe(true);
    expect(r.patch).toEqual([]);
  });

  it('treats a non-string opt-out as not opting out, without crashing', () => {
    const pod = withAnnotations(basePod(), { 'sidelog.io/streams': '- {path: /var/log/app/a.log, container: web}' });
    (pod.metadata!.annotations as Record<string, unknown>)['sidelog.io/inject'] = 5;
    expect(() => previewObject(pod, { policy })).not.toThrow();
  });

  it('refuses a huge resources annotation before parsing it', () => {
    const huge = `{${Array.from({ length: 50_000 }, (_, i) => `k${i}: 1`).join(', ')}}`;
    expect(sidecarResources(policy.defaults, huge).problems.map(problemText)).toEqual(['sidelog.io/resources: must be at most 2048 bytes']);
  });

  it('reads a streams annotation full of keys in linear time, and refuses duplicates', () => {
    const keys = Array.from({ length: 6000 }, (_, i) => `k${i}: 1`).join(', ');
    expect(parseStreams(`- {path: /var/log/a/a.log, ${keys}}`).problems.length).toBeGreaterThan(0);
    expect(parseStreams('- {path: /var/log/a/a.log, path: /etc/x}').problems.map(problemText)).toEqual(['sidelog.io/streams: is not valid YAML or JSON (duplicate key "path")']);
  });

  it('refuses lookbehind, which the agents\' regex engine cannot run', () => {
    expect(parseStreams('- {path: /var/log/a/a.log, output: x, parser: regex, regex: "(?<=a+)(?<m>.*)"}').problems.map(problemText)[0]).toMatch(/regex: must not use lookbehind/);
  });
});
