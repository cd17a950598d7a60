/**
 * `sidelog audit` against the local API server: every reason, the owning workload followed through
 * the API (and each owner read once), the fix, exit codes, JSON and table output.
 */
import { runCli, useSeededApi } from './cluster-fixture.js';
import type { FakeApi } from './fake-api.js';

const cluster = useSeededApi();
let api: FakeApi;
beforeEach(() => {
  api = cluster();
});

const audit = (...args: string[]) => runCli(['audit', '--kubeconfig', api.kubeconfig, ...args]);

describe('sidelog audit', () => {
  it('-A -o json: one finding per affected pod, with its reason, workload and fix; exit 1', async () => {
    const r = await audit('-A', '-o', 'json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.podsChecked).toBe(11);
    expect(report.findings.map((f: any) => [`${f.namespace}/${f.pod}`, f.reason, f.workload && `${f.workload.kind}/${f.workload.name}`])).toEqual([
      ['plain/legacy', 'namespace-not-labelled', null],
      ['team-a/bad', 'not-injectable', null],
      ['team-a/db-0', 'sidecar-not-ready', 'StatefulSet/db'],
      ['team-a/nightly-29001-x7k2p', 'status-mismatch', 'CronJob/nightly'],
      ['team-a/node-agent-q8w2n', 'sidecar-crash-looping', 'DaemonSet/node-agent'],
      ['team-a/quiet', 'opted-out', null],
      ['team-a/web-5d4f8-bbbbb', 'not-injected', 'Deployment/web'],
    ]);
    const by = (pod: string) => report.findings.find((f: any) => f.pod === pod);
    expect(by('web-5d4f8-bbbbb').fix).toBe('kubectl rollout restart deployment/web -n team-a');
    expect(by('web-5d4f8-bbbbb').detail).toMatch(/labelled sidelog.io\/injection=enabled .*webhook outage .*before the namespace was labelled/);
    expect(by('legacy').fix).toMatch(/^kubectl label namespace plain sidelog.io\/injection=enabled, then recreate the pod/);
    expect(by('bad').detail).toContain('sidelog.io/streams[0].path');
    expect(by('nightly-29001-x7k2p').detail).toContain('no container sidelog-access');
    expect(by('nightly-29001-x7k2p').fix).toMatch(/^remove sidelog.io\/status from the pod template of cronjob\/nightly/);
    expect(by('node-agent-q8w2n')).toMatchObject({ containers: ['sidelog-agent'], detail: 'sidelog-agent is in CrashLoopBackOff after 7 restarts, last exit Error (code 1)' });
    expect(by('node-agent-q8w2n').fix).toBe('kubectl describe pod node-agent-q8w2n -n team-a; kubectl logs node-agent-q8w2n -c sidelog-agent -n team-a --previous');
    expect(by('db-0').detail).toContain('ImagePullBackOff');
    expect(by('quiet').fix).toMatch(/^remove sidelog.io\/inject from pod quiet/);
  });

  it('reads each owner once: the ReplicaSet and the Job, never a pod\'s owner twice', async () => {
    await audit('-A', '-o', 'json');
    const reads = api.requests.filter((q) => /\/(replicasets|jobs)\//.test(q.path)).map((q) => q.path);
    expect(reads.sort()).toEqual(['/apis/apps/v1/namespaces/team-a/replicasets/web-5d4f8', '/apis/batch/v1/namespaces/team-a/jobs/nightly-29001']);
  });

  it('reads lists a page (500) at a time', async () => {
    for (let i = 0; i < 1100; i++) api.put('pods', { metadata: { name: `bulk-${i}`, namespace: 'bulk' }, spec: { containers: [{ name: 'a', image: 'a' }] } });
    const r = await audit('-A', '-o', 'json');
    expect(JSON.parse(r.stdout).podsChecked).toBe(1111);
    expect(api.requests.filter((q) => q.path === '/api/v1/pods').map((q) => q.query)).toEqual(['limit=500', 'continue=500&limit=500', 'continue=1000&limit=500']);
  });

  it('-n limits the audit to one namespace; a clean namespace exits 0', async () => {
    const one = await audit('-n', 'plain', '-o', 'json');
    expect(one.status).toBe(1);
    expect(JSON.parse(one.stdout).findings.map((f: any) => f.pod)).toEqual(['legacy']);
    expect(api.requests.some((q) => q.path === '/api/v1/pods')).toBe(false);
    const clean = await audit('-n', 'payments');
    expect(clean).toEqual({ status: 0, stdout: 'No pod is missing its sidecars (1 pods checked).\n', stderr: '' });
  });

  it('without -n or -A audits the namespace of the kubeconfig context (default)', async () => {
    api.put('pods', { metadata: { name: 'old', namespace: 'default', annotations: { 'sidelog.io/streams': '- path: /var/log/a.log\n' } }, spec: { containers: [{ name: 'a', image: 'a' }] } });
    api.put('namespaces', { metadata: { name: 'default' } });
    const r = await audit('-o', 'json');
    expect(JSON.parse(r.stdout).findings.map((f: any) => `${f.namespace}/${f.pod}:${f.reason}`)).toEqual(['default/old:namespace-not-labelled']);
  });

  it('prints a table, then each fix once with the pods it applies to', async () => {
    const r = await audit('-A');
    expect(r.status).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE +POD +WORKLOAD +REASON$/);
    expect(lines[1]).toMatch(/^plain +legacy +\(bare pod\) +namespace-not-labelled$/);
    expect(lines).toContain('  fix: kubectl rollout restart deployment/web -n team-a');
    expect(r.stdout).toContain('7 of 11 pods checked are missing sidecars.');
  });

  it('without read access to the policy, still audits and says what it cannot tell', async () => {
    api.remove('configmaps', 'sidelog', 'sidelog-policy');
    const r = await audit('-n', 'team-a', '-o', 'json');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^Warning: the policy in force was not read \(ConfigMap sidelog\/sidelog-policy: not found/);
    const report = JSON.parse(r.stdout);
    expect(report.policyNote).toContain('not-injected may include');
    expect(report.findings.find((f: any) => f.pod === 'bad').reason).toBe('not-injected');
  });

  it('exit 3 with one line when it cannot audit: unknown context, API down, bad flags', async () => {
    const ctx = await audit('-A', '--context', 'nope');
    expect(ctx).toEqual({ status: 3, stdout: '', stderr: 'sidelog audit: --context: no context "nope" in the kubeconfig (contexts: fake)\n' });
    api.down = true;
    const down = await audit('-A');
    expect(down.status).toBe(3);
    expect(down.stderr).toMatch(/^sidelog audit: listing (pods in all namespaces|namespaces): HTTP 503: the API server is down\n$/);
    api.down = false;
    expect((await audit('-A', '-n', 'x')).stderr).toBe('sidelog audit: use -n NAMESPACE or -A, not both\n');
    expect((await audit('-o', 'yaml')).stderr).toBe('sidelog audit: -o must be table or json, not yaml\n');
  });
});
