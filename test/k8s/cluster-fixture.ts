/**
 * A small cluster for audit, what-if and the auditor, seeded into the fake API server: labelled and
 * unlabelled namespaces, the policy ConfigMap, workloads of every kind and their pods, one pod per
 * audit reason, built with the real webhook core (an injected pod is what `mutate` makes of it).
 */
import { main } from '../../webhook/cli.js';
import { mutate } from '../../webhook/inject/mutate.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { type FakeApi, type Obj, startFakeApi } from './fake-api.js';

type J = Record<string, any>;

export const CURRENT_POLICY = `defaults:
  agent: fluent-bit
outputs:
  stdout: {type: stdout}
  aggregator: {type: forward, host: fluentd.logging.svc, port: 24224}
namespaces:
  team-a: {outputs: [stdout, aggregator]}
  "*": {outputs: [stdout]}
`;

/** The current policy without the aggregator output. */
export const NO_AGGREGATOR_POLICY = `defaults:
  agent: fluent-bit
outputs:
  stdout: {type: stdout}
namespaces:
  "*": {outputs: [stdout]}
`;

const KUBE = { major: 1, minor: 30 };

export const AGGREGATOR_STREAMS = '- path: /var/log/app/app.log\n  name: app\n  output: aggregator\n- path: /var/log/app/access.log\n  name: access\n';
export const STDOUT_STREAMS = '- path: /var/log/app/app.log\n  name: app\n  output: stdout\n';
export const STREAMING_STREAMS = '- path: /var/log/app/access.log\n  name: access\n';

export function template(streams: string, extra: Record<string, string> = {}): J {
  return {
    metadata: { labels: { app: 'x' }, annotations: { 'sidelog.io/streams': streams, ...extra } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1' }] },
  };
}

const controller = (kind: string, name: string, apiVersion = 'apps/v1') => [{ apiVersion, kind, name, uid: `uid-${name}`, controller: true }];

/** A pod made from a template, injected by the webhook core as the cluster's webhook would have. */
export function podFrom(t: J, name: string, namespace: string, opts: { owners?: J[]; labels?: Record<string, string>; inject?: boolean } = {}): Obj {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...structuredClone(t.metadata), name, namespace, labels: { ...t.metadata.labels, ...opts.labels }, ...(opts.owners ? { ownerReferences: opts.owners } : {}) }, spec: structuredClone(t.spec) };
  if (opts.inject === false) return pod as Obj;
  const r = mutate({ object: pod, namespace, policy: parsePolicy(CURRENT_POLICY), kubeVersion: KUBE, enforcement: 'enabled' });
  if (!r.injection) throw new Error(`fixture pod ${name} was not injected: ${r.skip?.reason} ${r.warnings.join('; ')}`);
  return r.mutated as Obj;
}

/** Status of a running pod: every container running and ready, then the overrides by container name. */
export function running(pod: J, overrides: Record<string, J> = {}): Obj {
  const status = (c: { name: string }): Record<string, unknown> => overrides[c.name] ?? { name: c.name, ready: true, restartCount: 0, state: { running: { startedAt: '2026-12-01T10:00:00Z' } } };
  return {
    ...(pod as Obj),
    status: {
      phase: 'Running',
      containerStatuses: pod.spec.containers.map((c: { name: string }) => ({ name: c.name, ...status(c) })),
      ...(pod.spec.initContainers ? { initContainerStatuses: pod.spec.initContainers.map((c: { name: string }) => ({ name: c.name, ...status(c) })) } : {}),
    },
  };
}

const LABEL = 'sidelog.io/injection';

/** Seed the fake API; returns what each pod is expected to be reported as. */
export function seedCluster(api: FakeApi): void {
  api.put('namespaces', { metadata: { name: 'sidelog' } });
  api.put('namespaces', { metadata: { name: 'team-a', labels: { [LABEL]: 'enabled' } } });
  api.put('namespaces', { metadata: { name: 'payments', labels: { [LABEL]: 'required' } } });
  api.put('namespaces', { metadata: { name: 'plain' } });
  api.put('configmaps', { metadata: { name: 'sidelog-policy', namespace: 'sidelog' }, data: { 'policy.yaml': CURRENT_POLICY } });

  const web = template(AGGREGATOR_STREAMS);
  api.put('deployments', { metadata: { name: 'web', namespace: 'team-a' }, spec: { selector: { matchLabels: { app: 'x' } }, template: web } });
  api.put('replicasets', { metadata: { name: 'web-5d4f8', namespace: 'team-a', ownerReferences: controller('Deployment', 'web') }, spec: { template: web } });
  const rs = controller('ReplicaSet', 'web-5d4f8');
  api.put('pods', running(podFrom(web, 'web-5d4f8-aaaaa', 'team-a', { owners: rs, labels: { 'pod-template-hash': '5d4f8' } })));
  api.put('pods', running(podFrom(web, 'web-5d4f8-bbbbb', 'team-a', { owners: rs, labels: { 'pod-template-hash': '5d4f8' }, inject: false })));

  // A CronJob whose template carries a sidelog.io/status copied from a running pod.
  const nightly = template(AGGREGATOR_STREAMS, { 'sidelog.io/status': '{"version":1,"native":true,"streams":[{"name":"access","mode":"streaming","container":"app"}]}' });
  api.put('cronjobs', { metadata: { name: 'nightly', namespace: 'team-a' }, spec: { schedule: '0 2 * * *', jobTemplate: { spec: { template: { ...nightly, spec: { ...nightly.spec, restartPolicy: 'OnFailure' } } } } } });
  api.put('jobs', { metadata: { name: 'nightly-29001', namespace: 'team-a', ownerReferences: controller('CronJob', 'nightly', 'batch/v1') }, spec: { template: nightly } });
  api.put('pods', running(podFrom({ ...nightly, spec: { ...nightly.spec, restartPolicy: 'OnFailure' } }, 'nightly-29001-x7k2p', 'team-a', { owners: controller('Job', 'nightly-29001', 'batch/v1'), inject: false })));

  api.put('pods', running(podFrom(template(AGGREGATOR_STREAMS, { 'sidelog.io/inject': 'false' }), 'quiet', 'team-a', { inject: false })));
  api.put('pods', running(podFrom(template('- path: relative/app.log\n'), 'bad', 'team-a', { inject: false })));

  const db = template(STREAMING_STREAMS);
  api.put('statefulsets', { metadata: { name: 'db', namespace: 'team-a' }, spec: { serviceName: 'db', selector: { matchLabels: { app: 'x' } }, template: db } });
  api.put('pods', running(podFrom(db, 'db-0', 'team-a', { owners: controller('StatefulSet', 'db') }), {
    'sidelog-access': { ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "busybox:1.37"' } } },
  }));

  const agent = template(STDOUT_STREAMS);
  api.put('daemonsets', { metadata: { name: 'node-agent', namespace: 'team-a' }, spec: { selector: { matchLabels: { app: 'x' } }, template: agent } });
  api.put('pods', running(podFrom(agent, 'node-agent-q8w2n', 'team-a', { owners: controller('DaemonSet', 'node-agent') }), {
    'sidelog-agent': { ready: false, restartCount: 7, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { reason: 'Error', exitCode: 1 } } },
  }));

  // Not findings: a pod that asks for nothing, an injected pod still starting.
  api.put('pods', running({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nolog', namespace: 'team-a' }, spec: { containers: [{ name: 'app', image: 'app:1' }] } }));
  api.put('pods', running(podFrom(web, 'starting', 'team-a'), { 'sidelog-agent': { ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } } }));

  // Workloads that are their own top owner.
  api.put('replicasets', { metadata: { name: 'lonely', namespace: 'team-a' }, spec: { template: web } });
  api.put('jobs', { metadata: { name: 'once', namespace: 'team-a' }, spec: { template: { ...web, spec: { ...web.spec, restartPolicy: 'Never' } } } });

  const pay = template(STDOUT_STREAMS);
  api.put('deployments', { metadata: { name: 'pay', namespace: 'payments' }, spec: { selector: { matchLabels: { app: 'x' } }, template: pay } });
  api.put('pods', running(podFrom(pay, 'pay-7c9d-abcde', 'payments', { owners: controller('ReplicaSet', 'pay-7c9d') })));

  // In a namespace nobody labelled.
  api.put('pods', running(podFrom(template(STDOUT_STREAMS), 'legacy', 'plain', { inject: false })));
}

/** A fake API server seeded with seedCluster for each test of the calling file. */
export function useSeededApi(): () => FakeApi {
  let api: FakeApi;
  beforeEach(async () => {
    api = await startFakeApi();
    seedCluster(api);
  });
  afterEach(async () => {
    await api.close();
  });
  return () => api;
}

/** Run the CLI in this process; its exit status and what it wrote. */
export async function runCli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await main(args, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), readStdin: () => '' });
  return { status, stdout, stderr };
}
