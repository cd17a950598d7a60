/**
 * Property tests: whatever a pod's annotations say (newlines, directives, `${...}`, `#{...}`,
 * section headers, quotes, unicode, 64 KB strings), the outcome is a clear rejection or configs
 * that, parsed back the way the agents read them, hold exactly the directives sidelog intended.
 * Nothing crashes, and no sidecar is ever privileged, root or on a hostPath.
 */
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { mutate } from '../../webhook/inject/mutate.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import type { Pod } from '../../webhook/core/pod.js';
import { basePod } from '../helpers/fixtures.js';
import { checkIntended, sidecarProblems } from '../helpers/injection-checks.js';
import { checkPodInvariants } from '../helpers/invariants.js';
import { patchOracleProblems } from '../helpers/patch-oracle.js';
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

describe('any annotation', () => {
  it('gives a clear rejection or configs holding exactly the intended directives', () => {
    const seen = { denied: 0, skipped: 0, injected: 0, withConfig: 0 };
    fc.assert(
      fc.property(annotationText, agent, namespace, fc.constantFrom('enabled', 'enabled', 'required'), (streams, agentName, ns, enforcement) => {
        const pod = podWith(streams, agentName);
        const original = structuredClone(pod);
        const result = mutate({ object: pod, namespace: ns, policy, enforcement: enforcement as 'enabled' | 'required', kubeVersion: { major: 1, minor: 30 } });
        expect(pod).toEqual(original); // the input is never changed
        expect(patchOracleProblems(original, pod, result)).toEqual([]);
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
