/**
 * The in-server auditor against the local API server: the informers list, then follow watch
 * events (add, update, delete, namespace labels), the gauge stays equal to the findings, one Event
 * per pod and reason, the rate limit, restarts after a failed list and a closed watch; and
 * `serve --audit` wires it to /metrics.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { loadConfig } from '../../webhook/config.js';
import { type LivePod, auditPod } from '../../webhook/inject/audit.js';
import { backoffMs, slimPod } from '../../webhook/k8s/cluster.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { forgetRegexEngineForTests, loadRegexEngine } from '../../webhook/core/regex.js';
import { startServer } from '../../webhook/main.js';
import { EVENT_BURST, EVENT_RETRY_MS, type RunningAuditor, createAuditor, startAuditor } from '../../webhook/ops/auditor.js';
import { CURRENT_POLICY, STDOUT_STREAMS, podFrom, running, seedCluster, template } from './cluster-fixture.js';
import { type FakeApi, startFakeApi } from './fake-api.js';

/** Wait (polling) until `check` passes; fails with its last error after 10 s. */
async function until(check: () => void | Promise<void>): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** The gauge as `namespace/reason -> value`. */
async function gauge(registry: Registry): Promise<Record<string, number>> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'sidelog_pods_missing_sidecars');
  return Object.fromEntries((metric?.values ?? []).map((v) => [`${v.labels.namespace}/${v.labels.reason}`, v.value]));
}

const events = (api: FakeApi) => api.list('events').map((e) => `${e.metadata.namespace}/${e.involvedObject.name} ${e.reason}`).sort();

const TEAM_A = {
  'team-a/not-injectable': 1,
  'team-a/not-injected': 1,
  'team-a/opted-out': 1,
  'team-a/sidecar-crash-looping': 1,
  'team-a/sidecar-not-ready': 1,
  'team-a/status-mismatch': 1,
};

describe('the auditor, over informers', () => {
  let api: FakeApi;
  let registry: Registry;
  let running_: RunningAuditor;
  const warnings: Array<{ o: object; m: string }> = [];
  const start = async () => {
    running_ = await startAuditor({ registry, policy: () => parsePolicy(CURRENT_POLICY), kubeVersion: () => ({ major: 1, minor: 30 }), log: { warn: (o, m) => void warnings.push({ o, m }), info: () => undefined }, kube: { kubeconfig: api.kubeconfig } });
  };
  beforeEach(async () => {
    api = await startFakeApi();
    seedCluster(api);
    registry = new Registry();
    warnings.length = 0;
  });
  afterEach(async () => {
    await running_?.stop();
    await api.close();
  });

  it('lists pods and namespaces, counts the findings of labelled namespaces and records one Event per affected pod', async () => {
    await start();
    await until(async () => expect(await gauge(registry)).toEqual(TEAM_A));
    await until(() => expect(events(api)).toHaveLength(5));
    expect(events(api)).toEqual([
      'team-a/bad SidelogNotInjectable',
      'team-a/db-0 SidelogSidecarNotReady',
      'team-a/nightly-29001-x7k2p SidelogStatusMismatch',
      'team-a/node-agent-q8w2n SidelogSidecarCrashLooping',
      'team-a/web-5d4f8-bbbbb SidelogNotInjected',
    ]);
    const e = api.list('events').find((x) => x.involvedObject.name === 'web-5d4f8-bbbbb')!;
    expect(e).toMatchObject({
      type: 'Warning',
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: 'team-a', uid: 'uid-web-5d4f8-bbbbb' },
      source: { component: 'sidelog-auditor' },
      count: 1,
    });
    // The Deployment is told from the pod-template-hash label, without reading the ReplicaSet.
    expect(e.message).toMatch(/created during a webhook outage .* Fix: kubectl rollout restart deployment\/web -n team-a$/);
    expect(api.requests.filter((r) => r.method === 'GET' && !/^\/api\/v1\/(pods|namespaces)$/.test(r.path))).toEqual([]);
  });

  it('two replicas record one Event per pod between them', async () => {
    await start();
    const second = await startAuditor({ registry: new Registry(), policy: () => parsePolicy(CURRENT_POLICY), log: { warn: () => undefined, info: () => undefined }, kube: { kubeconfig: api.kubeconfig } });
    try {
      await until(() => expect(api.requests.filter((r) => r.method === 'POST').length).toBe(10));
      expect(events(api)).toHaveLength(5);
      expect(second.auditor.findings().size).toBe(6);
    } finally {
      await second.stop();
    }
  });

  it('follows watch events: deletes, new pods, updates, namespace labels; the gauge always equals the findings', async () => {
    await start();
    await until(async () => expect(await gauge(registry)).toEqual(TEAM_A));
    await until(() => expect(events(api)).toHaveLength(5));

    api.remove('pods', 'team-a', 'web-5d4f8-bbbbb');
    api.put('pods', running(podFrom(template(STDOUT_STREAMS), 'late-1', 'team-a', { inject: false })));
    api.put('pods', running(podFrom(template(STDOUT_STREAMS), 'late-2', 'team-a', { inject: false })));
    await until(async () => expect((await gauge(registry))['team-a/not-injected']).toBe(2));
    await until(() => expect(events(api)).toContain('team-a/late-2 SidelogNotInjected'));

    // The crash-looping agent recovers: its series goes away.
    const node = api.list('pods', 'team-a').find((p) => p.metadata.name === 'node-agent-q8w2n')!;
    api.put('pods', running({ ...node, status: undefined }));
    await until(async () => expect((await gauge(registry))['team-a/sidecar-crash-looping']).toBeUndefined());

    // A namespace labelled now has its pods audited; one unlabelled drops them.
    api.put('namespaces', { metadata: { name: 'plain', labels: { 'sidelog.io/injection': 'enabled' } } });
    api.put('namespaces', { metadata: { name: 'team-a' } });
    await until(async () => expect(await gauge(registry)).toEqual({ 'plain/not-injected': 1 }));
    await until(() => expect(events(api)).toContain('plain/legacy SidelogNotInjected'));
    const recorded = events(api).length;

    // Updating a pod whose finding does not change records no second Event.
    const legacy = api.list('pods', 'plain')[0]!;
    api.put('pods', { ...legacy, metadata: { ...legacy.metadata, labels: { touched: 'yes' } } });
    api.put('pods', running(podFrom(template(STDOUT_STREAMS), 'marker', 'plain', { inject: false })));
    await until(() => expect(events(api)).toContain('plain/marker SidelogNotInjected'));
    expect(events(api)).toHaveLength(recorded + 1);
    expect(await gauge(registry)).toEqual({ 'plain/not-injected': 2 });
  });

  it('lists pods a page at a time', async () => {
    for (let i = 0; i < 1100; i++) api.put('pods', { metadata: { name: `bulk-${i}`, namespace: 'team-a' }, spec: { containers: [{ name: 'a', image: 'a' }] } });
    api.put('pods', running(podFrom(template(STDOUT_STREAMS), 'after-the-bulk', 'team-a', { inject: false })));
    await start();
    await until(async () => expect((await gauge(registry))['team-a/not-injected']).toBe(2));
    const lists = api.requests.filter((q) => q.path === '/api/v1/pods' && !q.query?.includes('watch=true')).map((q) => q.query);
    expect(lists).toEqual(['limit=500', 'continue=500&limit=500', 'continue=1000&limit=500']);
  });

  it('a closed watch reconnects from where it was; a failed list is retried with backoff', async () => {
    api.failNext('GET', /^\/api\/v1\/pods$/, 500);
    await start();
    await until(() => expect(warnings.map((w) => w.m)).toContain('auditor: pod informer failed; restarting'));
    expect(warnings[0]!.o).toMatchObject({ retryInMs: 1000 });
    await until(async () => expect(await gauge(registry)).toEqual(TEAM_A));
    await until(() => expect(api.watching()).toBe(2));
    api.endWatches();
    await until(() => expect(api.watching()).toBe(2));
    api.remove('pods', 'team-a', 'quiet');
    await until(async () => expect((await gauge(registry))['team-a/opted-out']).toBeUndefined());
    // Pods were listed twice (the failed list, its retry); every watch after that resumed from a resourceVersion.
    const podCalls = api.requests.filter((r) => r.path === '/api/v1/pods' && r.method === 'GET');
    expect(podCalls.filter((r) => !r.query?.includes('watch=true'))).toHaveLength(2);
    const watches = podCalls.filter((r) => r.query?.includes('watch=true'));
    expect(watches.length).toBeGreaterThanOrEqual(2);
    for (const w of watches) expect(new URLSearchParams(w.query).get('resourceVersion')).toMatch(/^\d+$/);
  });
});

describe('informer restarts', () => {
  it('wait 1 s after the first error, doubling up to 60 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });
});

describe('slimPod: what the pod cache keeps', () => {
  it('keeps a skeleton of pods that ask for nothing, and every finding of those that ask', async () => {
    const api = await startFakeApi();
    try {
      seedCluster(api);
      const labels = { 'sidelog.io/injection': 'enabled' };
      const policy = parsePolicy(CURRENT_POLICY);
      const pods = api.list('pods').map((p) => ({ ...structuredClone(p), metadata: { ...structuredClone(p.metadata), managedFields: [{ manager: 'kubelet', fieldsV1: { 'f:status': {} } }] } }) as LivePod);
      expect(pods.length).toBe(11);
      for (const pod of pods) {
        const slim = structuredClone(pod);
        slimPod(slim);
        expect(slim.metadata?.managedFields).toBeUndefined();
        expect([pod.metadata?.name, auditPod(slim, { namespaceLabels: labels, policy })]).toEqual([pod.metadata?.name, auditPod(pod, { namespaceLabels: labels, policy })]);
      }
      const nolog = pods.find((p) => p.metadata?.name === 'nolog')!;
      slimPod(nolog);
      expect(nolog).toEqual({ metadata: { name: 'nolog', namespace: 'team-a', uid: 'uid-nolog', resourceVersion: expect.any(String) } });
    } finally {
      await api.close();
    }
  });
});

describe('the auditor: Events are rate-limited', () => {
  const pod = (i: number): LivePod => ({ metadata: { name: `p${i}`, namespace: 'ns', annotations: { 'sidelog.io/streams': '- path: /var/log/a.log\n' } }, spec: { containers: [{ name: 'a' }] } });

  it(`records ${EVENT_BURST} at once, then one per ${EVENT_RETRY_MS / 1000} s; each pod once`, async () => {
    let t = 0;
    const recorded: string[] = [];
    const registry = new Registry();
    const a = createAuditor({ registry, record: async (e) => void recorded.push(e.pod), log: { warn: () => undefined, info: () => undefined }, now: () => t });
    a.upsertNamespace({ metadata: { name: 'ns', labels: { 'sidelog.io/injection': 'enabled' } } });
    for (let i = 0; i < 15; i++) a.upsertPod(pod(i));
    await a.flush();
    expect(recorded).toHaveLength(EVENT_BURST);
    t += EVENT_RETRY_MS;
    await a.flush();
    expect(recorded).toHaveLength(EVENT_BURST + 1);
    t += 60_000;
    await a.flush();
    expect(recorded).toHaveLength(15);
    expect(new Set(recorded).size).toBe(15);
    t += 60_000;
    await a.flush();
    expect(recorded).toHaveLength(15);
    const counter = (await registry.getMetricsAsJSON()).find((m) => m.name === 'sidelog_audit_events_total')!;
    expect(Object.fromEntries(counter.values.map((v) => [v.labels.result, v.value]))).toEqual({ recorded: 15, rate_limited: 2 });
  });

  it('a failed Event is tried again; a pod fixed meanwhile gets none', async () => {
    let fail = true;
    const recorded: string[] = [];
    const a = createAuditor({ registry: new Registry(), record: async (e) => {
      if (fail) throw new Error('HTTP 500');
      recorded.push(e.pod);
    }, log: { warn: () => undefined, info: () => undefined } });
    a.upsertNamespace({ metadata: { name: 'ns', labels: { 'sidelog.io/injection': 'enabled' } } });
    a.upsertPod(pod(1));
    a.upsertPod(pod(2));
    await a.flush();
    expect(recorded).toEqual([]);
    fail = false;
    a.removePod(pod(2));
    await a.flush();
    expect(recorded).toEqual(['p1']);
  });
});

describe('serve --audit', () => {
  it('exports sidelog_pods_missing_sidecars on /metrics', async () => {
    const api = await startFakeApi();
    seedCluster(api);
    const dir = mkdtempSync(join(tmpdir(), 'sidelog-audit-serve-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, CURRENT_POLICY);
    const config = loadConfig({ port: 0, host: '127.0.0.1', certDir: dir, logLevel: 'silent', policy, audit: true }, {});
    const server = await startServer(config, { kube: { kubeconfig: api.kubeconfig } });
    try {
      await until(async () => {
        const text = (await server.previewApp.inject({ method: 'GET', url: '/metrics' })).body;
        expect(text).toContain('sidelog_pods_missing_sidecars{namespace="team-a",reason="not-injected"} 1');
        expect(text).toContain('sidelog_pods_missing_sidecars{namespace="team-a",reason="not-injectable"} 1');
      });
    } finally {
      await server.close();
      await api.close();
    }
    expect(loadConfig({}, { SIDELOG_AUDIT: 'true' }).audit).toBe(true);
    expect(loadConfig({}, {}).audit).toBe(false);
  });
});

describe('the auditor: the regex engine, loaded by the first pod that asks for a regex', () => {
  const REGEX_STREAMS = '- path: /var/log/app/app.log\n  output: stdout\n  parser: regex\n  regex: "^(?<level>\\\\w+) (?<message>.*)$"\n';
  const pods: LivePod[] = [
    { metadata: { name: 'plain', namespace: 'ns', annotations: { 'sidelog.io/streams': '- path: /var/log/a.log\n' } }, spec: { containers: [{ name: 'a' }] } },
    { metadata: { name: 'regex', namespace: 'ns', annotations: { 'sidelog.io/streams': REGEX_STREAMS } }, spec: { containers: [{ name: 'a' }] } },
    { metadata: { name: 'bad-regex', namespace: 'ns', annotations: { 'sidelog.io/streams': REGEX_STREAMS.replace('(?<message>.*)', '(?<message>[a-') } }, spec: { containers: [{ name: 'a' }] } },
  ];
  const auditorFor = () => createAuditor({ registry: new Registry(), policy: () => parsePolicy(CURRENT_POLICY), kubeVersion: () => ({ major: 1, minor: 30 }), record: async () => undefined, log: { warn: () => undefined, info: () => undefined } });
  afterEach(() => loadRegexEngine());

  it('finds what an auditor with the engine loaded finds, once the engine has loaded', async () => {
    const reference = auditorFor();
    reference.upsertNamespace({ metadata: { name: 'ns', labels: { 'sidelog.io/injection': 'enabled' } } });
    for (const p of pods) reference.upsertPod(p);
    const expected = Object.fromEntries([...reference.findings()].map(([k, f]) => [k, f.reason]));
    expect(expected).toEqual({ 'ns/plain': 'not-injected', 'ns/regex': 'not-injected', 'ns/bad-regex': 'not-injectable' });

    forgetRegexEngineForTests();
    const lazy = auditorFor();
    lazy.upsertNamespace({ metadata: { name: 'ns', labels: { 'sidelog.io/injection': 'enabled' } } });
    for (const p of pods) lazy.upsertPod(p);
    // The regex pods wait for the load; the plain one is found at once.
    expect(Object.fromEntries([...lazy.findings()].map(([k, f]) => [k, f.reason]))).toEqual({ 'ns/plain': 'not-injected' });
    await until(() => expect(Object.fromEntries([...lazy.findings()].map(([k, f]) => [k, f.reason]))).toEqual(expected));
    // A pod removed while the engine loads is not found afterwards.
    forgetRegexEngineForTests();
    const again = auditorFor();
    again.upsertNamespace({ metadata: { name: 'ns', labels: { 'sidelog.io/injection': 'enabled' } } });
    again.upsertPod(pods[1]!);
    again.removePod(pods[1]!);
    await loadRegexEngine();
    await new Promise((r) => setTimeout(r, 20));
    expect([...again.findings().keys()]).toEqual([]);
  });
});
