/**
 * The audit core: one finding per pod from the pod, its namespace's labels and the policy; the
 * owning workload through a lookup; the fix for each reason and owner kind.
 */
import { type AuditContext, type Finding, type LivePod, type OwnerLookup, auditPod, fixFor, inferredOwners, owningWorkload, sidecarsOfStatus } from '../../webhook/inject/audit.js';
import { mutate } from '../../webhook/inject/mutate.js';
import { BUILTIN_POLICY } from '../../webhook/core/policy.js';

const STREAMS = '- path: /var/log/app/app.log\n  output: stdout\n- path: /var/log/app/access.log\n';
const ENABLED = { 'sidelog.io/injection': 'enabled' };
const KUBE = { major: 1, minor: 30 };

function asked(over: Record<string, string> = {}): LivePod {
  return { metadata: { name: 'p', namespace: 'ns', annotations: { 'sidelog.io/streams': STREAMS, ...over } }, spec: { containers: [{ name: 'app' }] } };
}

/** The pod the webhook makes of `asked()`, running, with the given container statuses overridden. */
function injected(statuses: Record<string, object> = {}, phase = 'Running'): LivePod {
  const pod = mutate({ object: asked(), namespace: 'ns', policy: BUILTIN_POLICY, kubeVersion: KUBE }).mutated as LivePod;
  const status = (c: { name: string }) => ({ name: c.name, ready: true, restartCount: 0, state: { running: {} }, ...statuses[c.name] });
  return { ...pod, status: { phase, containerStatuses: pod.spec!.containers!.map(status), initContainerStatuses: pod.spec!.initContainers!.map(status) } };
}

const ctx = (over: Partial<AuditContext> = {}): AuditContext => ({ namespaceLabels: ENABLED, policy: BUILTIN_POLICY, kubeVersion: KUBE, ...over });

describe('auditPod', () => {
  it.each<[string, LivePod, AuditContext, Finding['reason'] | undefined, RegExp | null]>([
    ['a pod that asks for nothing', { metadata: { name: 'p', namespace: 'ns' }, spec: { containers: [{ name: 'a' }] } }, ctx(), undefined, null],
    ['an injected pod, running', injected(), ctx(), undefined, null],
    ['an injected pod, its sidecars starting', injected({ 'sidelog-agent': { ready: false, state: { waiting: { reason: 'ContainerCreating' } } } }), ctx(), undefined, null],
    ['an injected Job pod that has completed', injected({ 'sidelog-agent': { ready: false, state: { terminated: { reason: 'Completed', exitCode: 0 } } } }, 'Succeeded'), ctx(), undefined, null],
    ['no label on the namespace', asked(), ctx({ namespaceLabels: {} }), 'namespace-not-labelled', /^namespace ns has no sidelog.io\/injection label$/],
    ['another label value', asked(), ctx({ namespaceLabels: { 'sidelog.io/injection': 'disabled' } }), 'namespace-not-labelled', /has sidelog.io\/injection=disabled \(not enabled or required\)/],
    ['opted out (in any namespace)', asked({ 'sidelog.io/inject': 'false' }), ctx({ namespaceLabels: {} }), 'opted-out', /sidelog.io\/inject: "false" opts the pod out/],
    ['labelled enabled, never injected', asked(), ctx(), 'not-injected', /webhook outage \(failurePolicy Ignore\) or before the namespace was labelled/],
    ['labelled required, never injected', asked(), ctx({ namespaceLabels: { 'sidelog.io/injection': 'required' } }), 'not-injected', /created before the namespace was labelled sidelog.io\/injection=required/],
    ['without the policy, a bad annotation is not told apart', asked({ 'sidelog.io/streams': '- path: x\n' }), ctx({ policy: undefined }), 'not-injected', null],
    ['an annotation the webhook cannot inject', asked({ 'sidelog.io/streams': '- path: x\n' }), ctx(), 'not-injectable', /would not inject it: no valid stream to inject \(sidelog: sidelog.io\/streams\[0\]\.path: /],
    ['an output the policy refuses, in a required namespace', asked({ 'sidelog.io/streams': '- path: /var/log/a.log\n  output: kafka\n' }), ctx({ namespaceLabels: { 'sidelog.io/injection': 'required' } }), 'not-injectable', /webhook refuses this pod: sidelog: sidelog.io\/streams\[0\]\.output: output "kafka" is not allowed/],
    ['a status with no sidecar (copied from a running pod)', asked({ 'sidelog.io/status': '{"version":1,"native":true,"streams":[{"name":"app","mode":"agent","container":"app"}]}' }), ctx(), 'status-mismatch', /records sidelog-agent but the pod has no container sidelog-agent/],
    ['an unreadable status', asked({ 'sidelog.io/status': '{' }), ctx(), 'status-mismatch', /^sidelog.io\/status is not valid JSON$/],
    ['an agent in CrashLoopBackOff', injected({ 'sidelog-agent': { ready: false, restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } } } }), ctx(), 'sidecar-crash-looping', /^sidelog-agent is in CrashLoopBackOff after 4 restarts, last exit OOMKilled \(code 137\)$/],
    ['a sidecar whose Secret is missing', injected({ 'sidelog-access': { ready: false, state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "es-creds" not found' } } } }), ctx(), 'sidecar-not-ready', /^sidelog-access is waiting: CreateContainerConfigError \(secret "es-creds" not found\)$/],
    ['a sidecar running but not ready', injected({ 'sidelog-agent': { ready: false } }), ctx(), 'sidecar-not-ready', /^sidelog-agent is running but not ready$/],
    ['a sidecar that exited in a running pod', injected({ 'sidelog-access': { ready: false, state: { terminated: { reason: 'Error', exitCode: 2 } } } }), ctx(), 'sidecar-not-ready', /^sidelog-access has terminated: Error \(code 2\)$/],
  ])('%s', (_, pod, context, reason, detail) => {
    const f = auditPod(pod, context);
    expect(f?.reason).toBe(reason);
    if (detail) expect(f?.detail).toMatch(detail);
  });

  it('crash-looping wins over not-ready, and names only the containers concerned', () => {
    const f = auditPod(injected({ 'sidelog-agent': { ready: false, state: { waiting: { reason: 'CrashLoopBackOff' } } }, 'sidelog-access': { ready: false } }), ctx());
    expect(f).toMatchObject({ reason: 'sidecar-crash-looping', containers: ['sidelog-agent'] });
    expect(f!.detail).toContain('sidelog-access is running but not ready');
  });
});

describe('sidecarsOfStatus', () => {
  it('names one agent container for all agent streams and one per streaming stream', () => {
    expect(sidecarsOfStatus('{"streams":[{"name":"a","mode":"agent"},{"name":"b","mode":"agent"},{"name":"c","mode":"streaming"}]}')).toEqual({ names: ['sidelog-agent', 'sidelog-c'] });
    expect(sidecarsOfStatus('{"version":1}')).toEqual({ problem: 'sidelog.io/status records no streams' });
  });
});

describe('owningWorkload', () => {
  const pod = (kind: string, name: string, labels: Record<string, string> = {}): LivePod => ({ metadata: { name: 'p', namespace: 'ns', labels, ownerReferences: [{ kind, name, controller: true }] } });
  const lookup = (table: Record<string, Array<{ kind: string; name: string; controller?: boolean }>>) => {
    const calls: string[] = [];
    const fn: OwnerLookup = async (kind, ns, name) => {
      calls.push(`${kind} ${ns}/${name}`);
      return table[`${kind}/${name}`];
    };
    return { fn, calls };
  };

  it.each([
    ['ReplicaSet -> Deployment', pod('ReplicaSet', 'web-5d4f8'), { 'ReplicaSet/web-5d4f8': [{ kind: 'Deployment', name: 'web', controller: true }] }, { kind: 'Deployment', name: 'web' }],
    ['Job -> CronJob', pod('Job', 'nightly-1'), { 'Job/nightly-1': [{ kind: 'CronJob', name: 'nightly', controller: true }] }, { kind: 'CronJob', name: 'nightly' }],
    ['a ReplicaSet of no Deployment', pod('ReplicaSet', 'lonely'), {}, { kind: 'ReplicaSet', name: 'lonely' }],
    ['a ReplicaSet owned by something else (Argo Rollout)', pod('ReplicaSet', 'r-1'), { 'ReplicaSet/r-1': [{ kind: 'Rollout', name: 'r', controller: true }] }, { kind: 'ReplicaSet', name: 'r-1' }],
    ['a StatefulSet (not followed)', pod('StatefulSet', 'db'), {}, { kind: 'StatefulSet', name: 'db' }],
  ])('%s', async (_, p, table, expected) => {
    const { fn, calls } = lookup(table);
    expect(await owningWorkload(p, fn)).toEqual(expected);
    expect(calls.length).toBeLessThanOrEqual(1);
  });

  it('a bare pod has no workload', async () => {
    expect(await owningWorkload({ metadata: { name: 'p' } }, lookup({}).fn)).toBeUndefined();
  });

  it('inferredOwners tells the Deployment from the pod-template-hash label, without the API', async () => {
    expect(await owningWorkload(pod('ReplicaSet', 'web-5d4f8', { 'pod-template-hash': '5d4f8' }), inferredOwners(pod('ReplicaSet', 'web-5d4f8', { 'pod-template-hash': '5d4f8' })))).toEqual({ kind: 'Deployment', name: 'web' });
    const lonely = pod('ReplicaSet', 'lonely');
    expect(await owningWorkload(lonely, inferredOwners(lonely))).toEqual({ kind: 'ReplicaSet', name: 'lonely' });
  });
});

describe('fixFor', () => {
  const f = (reason: Finding['reason']): Finding => ({ namespace: 'ns', pod: 'p', reason, detail: '', containers: ['sidelog-agent'] });
  it.each<[Finding['reason'], { kind: string; name: string } | undefined, string]>([
    ['not-injected', { kind: 'Deployment', name: 'web' }, 'kubectl rollout restart deployment/web -n ns'],
    ['not-injected', { kind: 'StatefulSet', name: 'db' }, 'kubectl rollout restart statefulset/db -n ns'],
    ['not-injected', { kind: 'DaemonSet', name: 'agent' }, 'kubectl rollout restart daemonset/agent -n ns'],
    ['not-injected', { kind: 'CronJob', name: 'nightly' }, 'the next run of cronjob/nightly gets its sidecars (now: kubectl create job --from=cronjob/nightly nightly-rerun -n ns)'],
    ['not-injected', { kind: 'ReplicaSet', name: 'lonely' }, 'kubectl delete pod p -n ns (its controller ReplicaSet/lonely recreates it)'],
    ['not-injected', undefined, 'recreate the pod from its manifest: kubectl delete pod p -n ns && kubectl apply -f POD.yaml'],
    ['namespace-not-labelled', { kind: 'Deployment', name: 'web' }, 'kubectl label namespace ns sidelog.io/injection=enabled, then kubectl rollout restart deployment/web -n ns'],
    ['status-mismatch', { kind: 'Deployment', name: 'web' }, 'remove sidelog.io/status from the pod template of deployment/web, then kubectl rollout restart deployment/web -n ns'],
    ['sidecar-crash-looping', { kind: 'Deployment', name: 'web' }, 'kubectl describe pod p -n ns; kubectl logs p -c sidelog-agent -n ns --previous'],
  ])('%s, owned by %j', (reason, owner, fix) => {
    expect(fixFor(f(reason), owner)).toBe(fix);
  });
});
