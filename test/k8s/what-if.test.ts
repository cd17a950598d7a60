/**
 * `sidelog what-if --policy NEW.yaml` against the local API server: which workloads are looked at
 * (every kind, owned objects through their owner, bare pods un-injected), a policy change that
 * removes an output, an unchanged policy, a bad NEW policy, exit codes, JSON and table output.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CURRENT_POLICY, NO_AGGREGATOR_POLICY, runCli, useSeededApi } from './cluster-fixture.js';
import type { FakeApi } from './fake-api.js';

const dir = mkdtempSync(join(tmpdir(), 'sidelog-what-if-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const cluster = useSeededApi();
let api: FakeApi;
beforeEach(() => {
  api = cluster();
});

const whatIf = (...args: string[]) => runCli(['what-if', '--kubeconfig', api.kubeconfig, ...args]);

describe('sidelog what-if', () => {
  it('the same policy changes nothing: exit 0 (running bare pods are un-injected before the comparison)', async () => {
    const r = await whatIf('--policy', file('same.yaml', CURRENT_POLICY), '-o', 'json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    // web, lonely (ReplicaSet of no Deployment), once (Job of no CronJob), nightly, db, node-agent, pay,
    // and the bare pods quiet, bad, starting; not the owned ReplicaSet, Job and pods, not unlabelled namespaces.
    expect(report).toMatchObject({ current: 'ConfigMap sidelog/sidelog-policy', kubeVersion: '1.30', workloadsChecked: 10, changed: 0, workloads: [] });
  });

  it('removing an output: streams lost, the output refused, the new warning and the config diff, per workload; exit 2', async () => {
    const r = await whatIf('--policy', file('no-aggregator.yaml', NO_AGGREGATOR_POLICY), '-o', 'json');
    expect(r.status).toBe(2);
    const report = JSON.parse(r.stdout);
    // nightly's template carries a copied sidelog.io/status that claims a sidecar it does not have:
    // not sidelog's own record, so the webhook injects its pods (with a warning) under either policy.
    expect(report.workloads.map((w: any) => `${w.kind}/${w.namespace}/${w.name}`)).toEqual([
      'CronJob/team-a/nightly',
      'Deployment/team-a/web',
      'Job/team-a/once',
      'Pod/team-a/starting',
      'ReplicaSet/team-a/lonely',
    ]);
    const web = report.workloads.find((w: any) => w.name === 'web');
    expect(web).toMatchObject({
      changed: true,
      gained: [],
      lost: ['app (agent -> aggregator, container app)'],
      modified: [],
      refused: [{ stream: 'app', output: 'aggregator' }],
      newWarnings: ['sidelog: sidelog.io/streams[0].output: output "aggregator" is not allowed in namespace team-a (allowed: stdout)'],
    });
    expect(web.newDenial).toBeUndefined();
    // The agent's config goes away, and with it the agent sidecar.
    expect(web.diff).toMatch(/^current\/fluent-bit\.conf: removed \(54 lines\)$/m);
    expect(web.diff).toMatch(/^--- current\/sidecars\.yaml\n\+\+\+ new\/sidecars\.yaml\n/m);
    expect(web.diff).toMatch(/^-- name: sidelog-agent$/m);
    // The bare pod gives the same answer as the Deployment with the same template.
    const pod = report.workloads.find((w: any) => w.name === 'starting');
    expect({ ...pod, kind: 'x', name: 'x' }).toEqual({ ...web, kind: 'x', name: 'x' });
  });

  it('a required namespace that would refuse new pods says so', async () => {
    const strict = `${NO_AGGREGATOR_POLICY.replace('"*": {outputs: [stdout]}', '"*": {outputs: [stdout]}\n  payments: {outputs: []}')}`;
    const r = await whatIf('--policy', file('strict.yaml', strict), '-n', 'payments', '-o', 'json');
    expect(r.status).toBe(2);
    const [pay] = JSON.parse(r.stdout).workloads;
    expect(pay).toMatchObject({ kind: 'Deployment', name: 'pay', lost: ['app (agent -> stdout, container app)'], refused: [{ stream: 'app', output: 'stdout' }] });
    expect(pay.newDenial).toMatch(/^sidelog: sidelog.io\/streams\[0\]\.output: output "stdout" is not allowed in namespace payments/);
  });

  it('a changed sidecar image shows as a diff of the sidecar containers of every workload that has them', async () => {
    const images = CURRENT_POLICY.replace('  agent: fluent-bit\n', '  agent: fluent-bit\n  images: {streaming: "busybox:1.38"}\n');
    const r = await whatIf('--policy', file('images.yaml', images));
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('statefulset/db -n team-a\n');
    expect(r.stdout).toMatch(/^ {4}-  image: busybox:1\.37\.0\n {4}\+  image: busybox:1\.38$/m);
    expect(r.stdout).not.toContain('daemonset/node-agent');
    // nightly's copied, inconsistent sidelog.io/status does not stop injection (issue 8): it changes too.
    expect(r.stdout).toContain('cronjob/nightly -n team-a\n');
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('6 of 10 workloads change (policy in force: ConfigMap sidelog/sidelog-policy; new: ' + join(dir, 'images.yaml') + '; Kubernetes 1.30).');
  });

  it('the table names each change on its own line, once for the workloads that share it', async () => {
    const r = await whatIf('--policy', file('no-aggregator.yaml', NO_AGGREGATOR_POLICY));
    expect(r.stdout).toContain([
      'cronjob/nightly -n team-a',
      'deployment/web -n team-a',
      'job/once -n team-a',
      'pod/starting -n team-a',
      'replicaset/lonely -n team-a',
      '  - stream app (agent -> aggregator, container app)',
      '  ! output aggregator refused (stream app)',
      '  ! new warning: sidelog: sidelog.io/streams[0].output: output "aggregator" is not allowed in namespace team-a (allowed: stdout)',
      '    current/fluent-bit.conf: removed (54 lines)',
      '    current/parsers.conf: removed (1 lines)',
      '    --- current/sidecars.yaml',
    ].join('\n'));
    expect(r.stdout.match(/current\/fluent-bit\.conf: removed/g)).toHaveLength(1);
  });

  it('a NEW policy that does not load: exit 1, the message names the file and field, nothing is read from the cluster', async () => {
    const bad = file('bad.yaml', 'outputs:\n  k: {type: kafka, topic: x}\nnamespaces: {}\n');
    const r = await whatIf('--policy', bad);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`sidelog what-if: ${bad}: outputs.k.brokers: Invalid input: expected array, received undefined\n`);
    expect(api.requests).toEqual([]);
  });

  it('exit 1 with one line when the policy in force cannot be read, or --policy is missing', async () => {
    api.remove('configmaps', 'sidelog', 'sidelog-policy');
    const r = await whatIf('--policy', file('same.yaml', CURRENT_POLICY));
    expect(r).toEqual({ status: 1, stdout: '', stderr: 'sidelog what-if: ConfigMap sidelog/sidelog-policy: not found (is sidelog installed? use --policy-configmap NAMESPACE/NAME)\n' });
    expect((await whatIf()).stderr).toBe('sidelog what-if: --policy NEW.yaml is required\n');
  });

  it('-n: a namespace that does not exist is an error; one not labelled changes nothing, and says why', async () => {
    const policy = file('no-aggregator.yaml', NO_AGGREGATOR_POLICY);
    expect(await whatIf('--policy', policy, '-n', 'nope')).toEqual({ status: 1, stdout: '', stderr: 'sidelog what-if: namespace nope not found\n' });
    const plain = await whatIf('--policy', policy, '-n', 'plain', '-o', 'json');
    expect(plain.status).toBe(0);
    expect(plain.stderr).toBe('Warning: namespace plain is not labelled sidelog.io/injection=enabled|required: the webhook injects nothing there under either policy\n');
    expect(JSON.parse(plain.stdout)).toMatchObject({ workloadsChecked: 0, changed: 0 });
  });
});

describe('the sidelog command (bin/sidelog.js) exits with these statuses', () => {
  /** The built command in a child process (asynchronously: the fake API answers from this one). */
  const sidelog = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string }>((done) => {
      const child = spawn(process.execPath, [resolve(import.meta.dirname, '../../bin/sidelog.js'), ...args, '--kubeconfig', api.kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (status) => done({ status, stdout }));
    });

  it('audit: 1 when something is found, 0 when clean; what-if: 2 when something changes, 0 when not', async () => {
    expect((await sidelog(['audit', '-A', '-o', 'json'])).status).toBe(1);
    expect((await sidelog(['audit', '-n', 'payments'])).status).toBe(0);
    const changes = await sidelog(['what-if', '--policy', file('no-aggregator.yaml', NO_AGGREGATOR_POLICY), '-o', 'json']);
    expect([changes.status, JSON.parse(changes.stdout).changed]).toEqual([2, 5]);
    expect((await sidelog(['what-if', '--policy', file('same.yaml', CURRENT_POLICY)])).status).toBe(0);
  });
});
