/**
 * The pod shape (webhook/core/pod-shape.ts) is sound only if sidelog never reads what it leaves
 * out. Two checks, on every golden case (the pod the controller creates, as the webhook receives it)
 * and on generated pods:
 *  - `mutate` runs on the pod behind a proxy that records every read; no read may go below a
 *    left-out field (into labels, env, affinity, ...), and left-out metadata may not be read at all
 *    beyond `name` and `generateName`, which are only checked to be strings;
 *  - changing every left-out field changes nothing in the answer, while the shape is the same.
 */
import fc from 'fast-check';
import { podShape } from '../../webhook/core/pod-shape.js';
import { type MutateInput, mutate } from '../../webhook/inject/mutate.js';
import { parseKubeVersion } from '../../webhook/core/kube-version.js';
import type { Pod } from '../../webhook/core/pod.js';
import { admittedPodOf, loadCases } from '../golden/harness.js';
import { annotationsArb, podArb, policy } from '../helpers/pod-arbitraries.js';

const cases = loadCases();
const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'];
const READ_METADATA = ['annotations', 'namespace', 'name', 'generateName'];

/**
 * The left-out field a path (keys from the pod's root) reaches, and whether it goes below it:
 * `metadata.labels` is the field itself, `metadata.labels.app` below it.
 */
function leftOut(path: readonly string[]): { field: string; below: boolean } | undefined {
  const [top, key, i, field] = path;
  if (top === 'metadata' && key !== undefined && !READ_METADATA.includes(key)) return { field: `metadata.${key}`, below: path.length > 2 };
  if (top === 'metadata' && (key === 'name' || key === 'generateName') && i !== undefined) return { field: `metadata.${key}`, below: true };
  if (top === 'spec' && ['affinity', 'nodeName', 'hostname', 'subdomain'].includes(key ?? '')) return { field: `spec.${key}`, below: path.length > 2 };
  if (top === 'spec' && CONTAINER_LISTS.includes(key ?? '') && ['image', 'env', 'envFrom'].includes(field ?? '')) return { field: `spec.${key}[].${field}`, below: path.length > 4 };
  return undefined;
}

/**
 * The pod behind proxies that record reads. Looking into a left-out field is always a read of it;
 * getting the field itself is one too, unless zod does it (a loose object copies its unknown keys,
 * values unread) and nothing looks into the value afterwards.
 */
function watched(value: unknown, path: string[], reads: string[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const note = (key: string | symbol, how: string) => {
    if (typeof key === 'symbol') return;
    const where = [...path, key];
    const hit = leftOut(where);
    if (hit && (hit.below || !/[/\\]node_modules[/\\]zod[/\\]/.test(new Error().stack ?? ''))) reads.push(`${how} ${where.join('.')} (${hit.field})`);
  };
  return new Proxy(value, {
    get(target, key, receiver) {
      note(key, 'get');
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof key === 'symbol' ? v : watched(v, [...path, key], reads);
    },
    has(target, key) {
      note(key, 'has');
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      const hit = leftOut([...path, '*']);
      if (hit?.below) reads.push(`keys of ${path.join('.')} (${hit.field})`);
      return Reflect.ownKeys(target);
    },
  });
}

/** Every left-out field changed (or added): another StatefulSet, DaemonSet, Job or rollout sibling. */
function sibling(pod: Pod, n: number): Pod {
  const spec = pod.spec as Pod['spec'] & Record<string, unknown>;
  const containers = (list: unknown) => (Array.isArray(list) ? list.map((c: Record<string, unknown>) => ({ ...c, image: `other/image:${n}`, env: [{ name: 'SIBLING', value: String(n) }], envFrom: [{ configMapRef: { name: `cm-${n}` } }] })) : list);
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      ...(pod.metadata?.name !== undefined ? { name: `renamed-${n}` } : {}),
      ...(pod.metadata?.generateName !== undefined ? { generateName: `gen-${n}-` } : {}),
      labels: { ...(pod.metadata as { labels?: Record<string, string> })?.labels, 'pod-template-hash': `h${n}`, 'controller-uid': `uid-${n}` },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `rs-${n}`, uid: `u-${n}`, controller: true }],
    } as Pod['metadata'],
    spec: {
      ...spec,
      hostname: `host-${n}`,
      subdomain: `sub-${n}`,
      nodeName: `node-${n}`,
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [`node-${n}`] }] }] } } },
      containers: containers(spec.containers) as Pod['spec']['containers'],
      ...(spec.initContainers ? { initContainers: containers(spec.initContainers) as Pod['spec']['containers'] } : {}),
      ...(spec.ephemeralContainers ? { ephemeralContainers: containers(spec.ephemeralContainers) as Pod['spec']['containers'] } : {}),
    } as Pod['spec'],
  };
}

/** Everything of a mutate result that goes into an answer. */
function answerOf(input: MutateInput) {
  const r = mutate(input);
  return { allowed: r.allowed, patch: JSON.stringify(r.patch), warnings: r.warnings, skip: r.skip, denial: r.denial, injection: r.injection };
}

const goldenInputs = cases.map((c) => {
  const pod = admittedPodOf(c);
  return [c.name, pod, { namespace: c.namespace, policy: c.policy, enforcement: c.enforcement, kubeVersion: parseKubeVersion(c.kubeVersion) }] as const;
});

describe('the pod shape leaves out only what sidelog never reads', () => {
  it.each(goldenInputs)('%s: mutate reads nothing below a left-out field', (_name, pod, rest) => {
    const reads: string[] = [];
    mutate({ ...rest, object: watched(pod, [], reads) });
    expect(reads).toEqual([]);
  });

  it.each(goldenInputs)('%s: a sibling that differs in every left-out field has the same shape and the same answer', (_name, pod, rest) => {
    const other = sibling(pod, 7);
    expect(JSON.stringify(podShape(other))).toBe(JSON.stringify(podShape(pod)));
    expect(answerOf({ ...rest, object: other })).toEqual(answerOf({ ...rest, object: pod }));
  });

  it('on generated pods: no read below a left-out field, the same answer for a sibling', () => {
    let injected = 0;
    fc.assert(
      fc.property(podArb, annotationsArb, fc.constantFrom('enabled' as const, 'required' as const), fc.constantFrom(28, 30), (pod, ann, enforcement, minor) => {
        pod.metadata!.annotations = { ...pod.metadata!.annotations, 'sidelog.io/streams': ann.streams, ...(ann.agent ? { 'sidelog.io/agent': ann.agent } : {}), ...(ann.resources ? { 'sidelog.io/resources': ann.resources } : {}) };
        const rest = { namespace: 'team-a', policy, enforcement, kubeVersion: { major: 1, minor } };
        const reads: string[] = [];
        const answer = answerOf({ ...rest, object: watched(pod, [], reads) });
        expect(reads).toEqual([]);
        expect(answerOf({ ...rest, object: sibling(pod, 3) })).toEqual(answer);
        if (answer.patch !== '[]') injected++;
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
    expect(injected).toBeGreaterThan(0);
  });

  it('keeps what sidelog reads: a change there is another shape', () => {
    const [, pod] = goldenInputs.find(([name]) => name === 'mixed-native')!;
    const shape = JSON.stringify(podShape(pod));
    const changed: Array<[string, Pod]> = [
      ['a container name', { ...pod, spec: { ...pod.spec, containers: pod.spec.containers.map((c, i) => (i ? c : { ...c, name: 'other' })) } }],
      ['a mount', { ...pod, spec: { ...pod.spec, containers: pod.spec.containers.map((c, i) => (i ? c : { ...c, volumeMounts: [{ name: 'x', mountPath: '/x' }] })) } }],
      ['a port', { ...pod, spec: { ...pod.spec, containers: pod.spec.containers.map((c, i) => (i ? c : { ...c, ports: [{ containerPort: 2020 }] })) } }],
      ['an annotation', { ...pod, metadata: { ...pod.metadata, annotations: { ...pod.metadata?.annotations, x: 'y' } } }],
      ['the namespace', { ...pod, metadata: { ...pod.metadata, namespace: 'elsewhere' } }],
      ['a name that is not a string', { ...pod, metadata: { ...pod.metadata, name: 5 as never } }],
      ['the grace period', { ...pod, spec: { ...pod.spec, terminationGracePeriodSeconds: 1 } }],
      ['the security context', { ...pod, spec: { ...pod.spec, securityContext: { runAsUser: 1234 } } }],
    ];
    for (const [what, other] of changed) expect([what, JSON.stringify(podShape(other)) === shape]).toEqual([what, false]);
    expect(podShape(pod)).not.toBe(pod);
    expect(podShape('not a pod')).toBe('not a pod');
  });
});
