/**
 * Property tests: whatever a pod's annotations say (newlines, directives, `${...}`, `#{...}`,
 * section headers, quotes, unicode, 64 KB strings), the outcome is a clear rejection or configs
 * that, parsed back the way the agents read them, hold exactly the directives sidelog intended.
 * Nothing crashes, and no sidecar is ever privileged, root or on a hostPath.
 */
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { type MutateResult, mutate } from '../../webhook/core/mutate.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import type { Pod } from '../../webhook/core/pod.js';
import { checkAgentConfig } from '../helpers/agent-config.js';
import { basePod } from '../helpers/fixtures.js';
import { parseFluentBitConf, sectionsNamed, getOne } from '../helpers/fluent-bit-conf.js';
import { find, parseFluentdConf } from '../helpers/fluentd-conf.js';
import { checkPodInvariants } from '../helpers/invariants.js';
import fastJsonPatch from 'fast-json-patch';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
const policy = parsePolicy(readFileSync(join(ROOT, 'test/golden/policy.yaml'), 'utf8'), 'policy.yaml');
const NUM_RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

/** Strings an attacker would try, next to arbitrary ones. */
const HOSTILE = [
  '\n', '\r\n', '\u2028', '\u0000', 'a\n[OUTPUT]\n    Name stdout\n    Match *', '@INCLUDE /etc/passwd', '\n@INCLUDE /etc/passwd', '@SET a=b',
  '${HOME}', '${SIDELOG_KAFKA_LOGS_PASSWORD}', '#{`id`}', '"#{ENV[\'HOME\']}"', "'", '"', '\\', '</match>\n<match **>\n  @type stdout\n</match>', '<source>',
  '@include /etc', '# comment', 'a # b', ' leading', 'trailing ', '*', '**', '../../etc', '/var/log/../../etc/passwd', 'ünïcødé', '日本語', '🙂',
  'x'.repeat(65 * 1024), '{namespace}', 'kube-system', 'team-b', 'SIDELOG_POD_NAME',
];
const text = fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme-ascii', maxLength: 20 }));
/** Mostly valid values with hostile ones mixed in, so every outcome (inject, skip, refuse) is reached. */
const mostly = <T>(valid: fc.Arbitrary<T>, weight = 10) => fc.oneof({ arbitrary: valid, weight }, { arbitrary: text as fc.Arbitrary<T | string>, weight: 1 });
const pathLike = fc.oneof(
  { arbitrary: fc.constantFrom('/var/log/app/app.log', '/var/log/app/*.log', '/var/log/w/x-[0-9].log', '/data/logs/a.log', '/var/log/app/sub/b.log'), weight: 6 },
  { arbitrary: fc.tuple(fc.constantFrom('/var/log/app/', '/data/', '/srv/x/'), text).map(([d, f]) => d + f), weight: 2 },
  { arbitrary: text, weight: 1 },
);
/** Absent `absent` times for each `present` time. */
const maybe = <T>(a: fc.Arbitrary<T>, absent = 1, present = 1) => fc.oneof({ arbitrary: fc.constant(undefined), weight: absent }, { arbitrary: a, weight: present });
const stream = fc.record(
  {
    path: pathLike,
    container: mostly(fc.constantFrom('web', 'worker'), 16),
    name: maybe(mostly(fc.constantFrom('app', 'a-b', 'audit'), 3), 2),
    mode: maybe(mostly(fc.constantFrom('streaming', 'agent'), 4), 3),
    output: maybe(mostly(fc.constantFrom('stdout', 'kafka-logs', 'es-main', 'aggregator', 'loki', 's3-archive', 'syslog', 'gcl', 'http-sink', 'cloudwatch', 'opensearch', 'plain-forward'), 6), 1, 2),
    parser: maybe(mostly(fc.constantFrom('none', 'json', 'regex', 'nginx', 'apache', 'syslog', 'multiline-java', 'multiline-go', 'multiline-python'), 6), 2),
    regex: maybe(mostly(fc.constantFrom('^(?<m>.*)$', '(?<a>${X})', '(?<a>.*)\n[OUTPUT]'), 1), 8),
    critical: maybe(mostly(fc.boolean(), 6), 2),
    params: maybe(fc.dictionary(mostly(fc.constantFrom('topic', 'index', 'host', 'brokers'), 3), mostly(fc.constantFrom('team-a', 'team-a.x', 'team-b', 'team-a/../x'), 3), { maxKeys: 2 }), 6),
  },
  { requiredKeys: ['path', 'container'] },
);
const annotationText = fc.oneof(
  { arbitrary: fc.array(stream, { minLength: 1, maxLength: 3 }).chain((streams) => fc.constantFrom(toYaml(streams), JSON.stringify(streams))), weight: 6 },
  { arbitrary: text, weight: 1 },
);
const agent = maybe(mostly(fc.constantFrom('fluent-bit', 'fluentd'), 6));
const namespace = fc.constantFrom('team-a', 'team-b', 'payments');

function podWith(streams: string, agentName: string | undefined): Pod {
  const pod = basePod();
  pod.metadata!.annotations = { ...(pod.metadata!.annotations ?? {}), 'sidelog.io/streams': streams, ...(agentName !== undefined ? { 'sidelog.io/agent': agentName } : {}) };
  return pod;
}

/** The directives sidelog intends for this injection, checked against the parsed-back config. */
function checkIntended(result: MutateResult, namespace: string): string[] {
  const problems: string[] = [];
  const agentStreams = (result.injection?.streams ?? []).filter((s) => s.mode === 'agent');
  for (const c of result.configs) {
    problems.push(...checkAgentConfig(c.file, c.text));
    if (c.file === 'fluent-bit.conf') {
      const conf = parseFluentBitConf(c.text);
      const inputs = sectionsNamed(conf, 'INPUT');
      const outputs = sectionsNamed(conf, 'OUTPUT');
      const tags = agentStreams.map((s) => `sidelog.${s.name}`).sort();
      if (JSON.stringify(inputs.map((s) => getOne(s, 'Tag')).sort()) !== JSON.stringify(tags)) problems.push('fluent-bit: inputs differ from the agent streams');
      if (JSON.stringify(outputs.map((s) => getOne(s, 'Match')).sort()) !== JSON.stringify(tags)) problems.push('fluent-bit: outputs differ from the agent streams');
      if (sectionsNamed(conf, 'SERVICE').length !== 1) problems.push('fluent-bit: not exactly one [SERVICE]');
      for (const s of inputs) if (!getOne(s, 'Path').startsWith('/sidelog/logs/')) problems.push(`fluent-bit: tail path outside the log volumes: ${getOne(s, 'Path')}`);
    }
    if (c.file === 'fluent.conf') {
      const root = parseFluentdConf(c.text);
      const sources = find(root, 'source').filter((src) => src.params.some((p) => p.key === '@type' && p.value === 'tail'));
      const matches = find(root, 'match');
      if (sources.length !== agentStreams.length || matches.length !== agentStreams.length) problems.push('fluentd: sources/matches differ from the agent streams');
      // Namespaced like Fluent Bit's forward tags; Cloud Logging streams are tagged with their log name.
      const tags = agentStreams.map((s) => (s.outputType === 'stackdriver' ? `${namespace}.${s.name}` : `sidelog.${namespace}.${s.name}`)).sort();
      if (JSON.stringify(matches.map((m) => m.arg).sort()) !== JSON.stringify(tags)) problems.push('fluentd: match patterns differ from the agent streams');
    }
  }
  return problems;
}

/** Every sidecar sidelog added: non-root, unprivileged, no escalation, no capabilities, no hostPath. */
function sidecarProblems(original: Pod, mutated: Pod): string[] {
  const problems: string[] = [];
  const before = new Set([...original.spec.containers, ...(original.spec.initContainers ?? [])].map((c) => c.name));
  const added = [...mutated.spec.containers, ...(mutated.spec.initContainers ?? [])].filter((c) => !before.has(c.name));
  for (const c of added) {
    const sc = c.securityContext ?? {};
    if (!c.name.startsWith('sidelog-')) problems.push(`${c.name}: added container not named sidelog-*`);
    if (sc.privileged !== false || sc.allowPrivilegeEscalation !== false || sc.runAsNonRoot !== true || !(sc.runAsUser! > 0)) problems.push(`${c.name}: not locked down`);
    if (sc.readOnlyRootFilesystem !== true || JSON.stringify(sc.capabilities) !== '{"drop":["ALL"]}') problems.push(`${c.name}: root filesystem or capabilities`);
  }
  const oldVolumes = new Set((original.spec.volumes ?? []).map((v) => v.name));
  for (const v of mutated.spec.volumes ?? []) {
    if (oldVolumes.has(v.name)) continue;
    if (!(v.emptyDir || v.downwardAPI || v.secret || v.projected)) problems.push(`volume ${v.name}: added with a forbidden type`);
  }
  for (const c of added) {
    for (const m of c.volumeMounts ?? []) {
      const v = (mutated.spec.volumes ?? []).find((x) => x.name === m.name);
      if (!v || 'hostPath' in v) problems.push(`${c.name}: mounts ${m.name} (hostPath or missing)`);
    }
  }
  return problems;
}

describe('any annotation', () => {
  it('gives a clear rejection or configs holding exactly the intended directives', () => {
    const seen = { denied: 0, skipped: 0, injected: 0, withConfig: 0 };
    fc.assert(
      fc.property(annotationText, agent, namespace, fc.constantFrom('enabled', 'enabled', 'required'), (streams, agentName, ns, enforcement) => {
        const pod = podWith(streams, agentName);
        const original = structuredClone(pod);
        const result = mutate({ object: pod, namespace: ns, policy, enforcement: enforcement as 'enabled' | 'required', kubeVersion: { major: 1, minor: 30 } });
        expect(pod).toEqual(original); // the input is never changed
        for (const w of [...result.warnings, result.denial ?? '']) {
          expect(w).not.toMatch(/[\u0000-\u001f\u2028\u2029]/);
          expect(w.length).toBeLessThanOrEqual(1024);
        }
        if (!result.allowed) {
          seen.denied++;
          expect(result.denial).toMatch(/^sidelog: (sidelog\.io\/|spec\.)/);
          expect(result.patch).toEqual([]);
          return;
        }
        if (!result.patch.length) {
          seen.skipped++;
          expect(result.skip).toBeDefined();
          return;
        }
        seen.injected++;
        if (result.configs.length) seen.withConfig++;
        expect(checkIntended(result, ns)).toEqual([]);
        expect(sidecarProblems(original, result.mutated as Pod)).toEqual([]);
        expect(checkPodInvariants(original, result.mutated as Pod, result.patch)).toEqual([]);
        const again = mutate({ object: result.mutated, namespace: ns, policy, kubeVersion: { major: 1, minor: 30 } });
        expect(again.patch).toEqual([]);
        expect(fastJsonPatch.applyPatch(structuredClone(original), result.patch, true, false).newDocument).toEqual(result.mutated);
      }),
      { numRuns: NUM_RUNS },
    );
    // The generators must reach every outcome, or the property proves little.
    expect(seen.denied).toBeGreaterThan(NUM_RUNS * 0.05);
    expect(seen.injected).toBeGreaterThan(NUM_RUNS * 0.05);
    expect(seen.withConfig).toBeGreaterThan(NUM_RUNS * 0.02);
  });

  it('never lets a stream reach an output its namespace is not allowed', () => {
    fc.assert(
      fc.property(fc.array(stream, { minLength: 1, maxLength: 3 }), agent, (streams, agentName) => {
        const result = mutate({ object: podWith(toYaml(streams), agentName), namespace: 'payments', policy, kubeVersion: { major: 1, minor: 30 } });
        for (const s of result.injection?.streams ?? []) {
          if (s.output !== undefined) expect(['kafka-logs', 'aggregator']).toContain(s.output);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
