/**
 * Issue 8, "problems stay local": a problem in one stream drops that stream alone, with a warning
 * naming it; when the whole agent cannot run, every stream it drops is named.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Enforcement } from '../../webhook/inject/mutate.js';
import type { Pod } from '../../webhook/core/pod.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { mutateChecked as mutate } from '../helpers/checked.js';
import { basePod, withAnnotations } from '../helpers/fixtures.js';

const golden = readFileSync(join(import.meta.dirname, '../golden/policy.yaml'), 'utf8');
const policy = parsePolicy(golden);
/**
 * sidelog's own Fluentd image carries every plugin, so image mismatches need a policy that picks
 * an image per output type, as a cluster with its own per-destination images would.
 */
const perTypeText = golden.replace(
  '  bufferSize: 2Gi\n',
  '  bufferSize: 2Gi\n  images:\n    fluentd: {default: "fluent/fluentd:v1.19-debian-1", kafka: "fluent/fluentd-kubernetes-daemonset:v1.19-debian-kafka2-1", s3: "fluent/fluentd-kubernetes-daemonset:v1.19-debian-s3-1"}\n',
);
const perType = parsePolicy(perTypeText);
const v130 = { major: 1, minor: 30 };

function run(streams: string, opts: { agent?: string; pod?: Pod; enforcement?: Enforcement; p?: typeof policy; namespace?: string } = {}) {
  const annotations = { 'sidelog.io/streams': streams, ...(opts.agent ? { 'sidelog.io/agent': opts.agent } : {}) };
  return mutate({ object: withAnnotations(opts.pod ?? basePod(), annotations), namespace: opts.namespace ?? 'team-a', policy: opts.p ?? policy, enforcement: opts.enforcement ?? 'enabled', kubeVersion: v130 });
}
const injected = (r: ReturnType<typeof run>) => r.injection?.streams.map((s) => s.name) ?? [];

const FOUR = [
  '- {path: /var/log/app/a.log, container: web, output: kafka-logs}',
  '- {path: /var/log/app/b.log, container: web, output: s3-archive}',
  '- {path: /var/log/app/c.log, container: web, output: kafka-logs}',
  '- {path: /var/log/app/d.log, container: web}',
].join('\n');

describe('a Fluentd image mismatch', () => {
  it('drops the one stream whose output needs another image, naming it, and keeps the others', () => {
    expect(perTypeText).not.toEqual(golden);
    const r = run(FOUR, { agent: 'fluentd', p: perType });
    expect(injected(r)).toEqual(['a', 'c', 'd']);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^sidelog: sidelog\.io\/streams\[1\]\.output: stream "b" is not injected: output "s3-archive" \(s3\) needs the Fluentd image /);
    const ids = [...r.configs[0]!.text.matchAll(/^\s+@id\s+(out_\w+)$/gm)].map((m) => m[1]);
    expect(ids).toEqual(['out_a', 'out_c']);
  });

  it('follows a per-output image override: two outputs on one image stay together', () => {
    const local = parsePolicy(perTypeText.replace('s3-archive:  {type: s3,', 's3-archive:  {type: s3, fluentdImage: "fluent/fluentd-kubernetes-daemonset:v1.19-debian-kafka2-1",'));
    const r = run(FOUR, { agent: 'fluentd', p: local });
    expect(injected(r)).toEqual(['a', 'b', 'c', 'd']);
    expect(r.warnings).toEqual([]);
  });

  it('refuses the pod in a required namespace, naming the stream', () => {
    const r = run(FOUR, { agent: 'fluentd', enforcement: 'required', p: perType });
    expect(r.allowed).toBe(false);
    expect(r.denial).toMatch(/^sidelog: sidelog\.io\/streams\[1\]\.output: stream "b" is not injected/);
  });
});

describe('an AWS credential conflict', () => {
  const local = parsePolicy(golden.replace('cloudwatch:  {type: cloudwatch, region: us-east-1,', 'cloudwatch:  {type: cloudwatch, credentialsSecret: other-aws, region: us-east-1,'));
  it.each(['fluent-bit', 'fluentd'])('drops only the stream that brings the second Secret (%s)', (agent) => {
    const streams = '- {path: /var/log/app/a.log, container: web, output: s3-archive}\n- {path: /var/log/app/b.log, container: web, output: cloudwatch}\n- {path: /var/log/app/c.log, container: web, output: stdout}';
    const p = agent === 'fluentd' ? parsePolicy(perTypeText.replace('cloudwatch:  {type: cloudwatch, region: us-east-1,', 'cloudwatch:  {type: cloudwatch, credentialsSecret: other-aws, fluentdImage: "fluent/fluentd-kubernetes-daemonset:v1.19-debian-s3-1", region: us-east-1,').replace('stdout:      {type: stdout}', 'stdout:      {type: stdout, fluentdImage: "fluent/fluentd-kubernetes-daemonset:v1.19-debian-s3-1"}')) : local;
    const r = run(streams, { agent, p });
    expect(injected(r)).toEqual(['a', 'c']);
    expect(r.warnings).toEqual([expect.stringMatching(/^sidelog: sidelog\.io\/streams\[1\]\.output: "cloudwatch" needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from another Secret/)]);
    const agentContainer = (r.mutated as Pod).spec.initContainers!.find((c) => c.name === 'sidelog-agent')!;
    expect(agentContainer.env!.filter((e) => e.name.startsWith('AWS_')).map((e) => e.valueFrom?.secretKeyRef?.name)).toEqual(['aws-creds', 'aws-creds']);
  });
});

describe('credential volumes', () => {
  it('drops the stream whose credentials volume name the pod already uses', () => {
    const pod = basePod();
    pod.spec.volumes!.push({ name: 'sidelog-cred-gcl', emptyDir: {} });
    const r = run('- {path: /var/log/app/a.log, container: web, output: gcl}\n- {path: /var/log/app/b.log, container: web, output: stdout}', { pod });
    expect(injected(r)).toEqual(['b']);
    expect(r.warnings).toEqual(['sidelog: sidelog.io/streams[0].output: stream "a" is not injected: its credentials volume sidelog-cred-gcl is already a volume of the pod']);
  });

  it('never lets two outputs whose long names meet in one volume name share a Secret', () => {
    const long = 'x'.repeat(50);
    const local = parsePolicy(`outputs:\n  ${long}-one: {type: stackdriver, credentialsSecret: one}\n  ${long}-two: {type: stackdriver, credentialsSecret: two}\nnamespaces: {"*": {outputs: [${long}-one, ${long}-two]}}\n`);
    const r = run(`- {path: /var/log/app/a.log, container: web, output: ${long}-one}\n- {path: /var/log/app/b.log, container: web, output: ${long}-two}`, { p: local });
    expect(injected(r)).toEqual(['a']);
    expect(r.warnings[0]).toMatch(/^sidelog: sidelog\.io\/streams\[1\]\.output: ".*-two" needs its credentials in volume sidelog-cred-x+, which another output's credentials already use/);
    const secrets = (r.mutated as Pod).spec.volumes!.filter((v) => v.secret).map((v) => v.secret!.secretName);
    expect(secrets).toEqual(['one']);
  });
});

describe('when the whole agent cannot run', () => {
  const streams = [
    '- {path: /var/log/app/a.log, container: web, output: stdout}',
    '- {path: /var/log/app/b.log, container: web}',
    '- {path: /var/log/app/c.log, container: web, output: kafka-logs, critical: true}',
  ].join('\n');

  it.each<[string, (p: Pod) => void, string]>([
    ['its container name is taken', (p) => p.spec.containers.push({ name: 'sidelog-agent', image: 'x' }), 'spec.containers: a container named sidelog-agent already exists'],
    ['its config volume name is taken', (p) => p.spec.volumes!.push({ name: 'sidelog-config', emptyDir: {} }), 'spec.volumes: a volume named sidelog-config already exists'],
    ['its buffer volume name is taken', (p) => p.spec.volumes!.push({ name: 'sidelog-buffer', emptyDir: {} }), 'spec.volumes: a volume named sidelog-buffer already exists'],
  ])('names every stream it drops: %s', (_what, change, reason) => {
    const pod = basePod();
    change(pod);
    const r = run(streams, { pod });
    expect(injected(r)).toEqual(['b']);
    expect(r.warnings).toEqual([`sidelog: ${reason}, so the agent sidecar cannot run; agent-mode streams not injected: a (sidelog.io/streams[0]), c (sidelog.io/streams[2])`]);
  });

  it('names every stream when the namespace allows no agent', () => {
    const local = parsePolicy(`${golden}\n  no-agent: {outputs: [stdout], agents: []}\n`);
    const r = run('- {path: /var/log/app/a.log, container: web, output: stdout}\n- {path: /var/log/app/b.log, container: web}\n- {path: /var/log/app/c.log, container: web, output: stdout}', { p: local, namespace: 'no-agent' });
    expect(injected(r)).toEqual(['b']);
    expect(r.warnings).toEqual(['sidelog: sidelog.io/agent: no agent is allowed in namespace no-agent; agent-mode streams not injected: a (sidelog.io/streams[0]), c (sidelog.io/streams[2])']);
  });
});
