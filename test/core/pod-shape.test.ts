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
import { CONTAINER_LISTS, READ_METADATA_FIELDS, UNREAD_CLAIM_FIELDS, UNREAD_CONTAINER_FIELDS, UNREAD_SPEC_FIELDS, podShape, shapeText } from '../../webhook/core/pod-shape.js';
import { type MutateInput, mutate } from '../../webhook/inject/mutate.js';
import { parseKubeVersion } from '../../webhook/core/kube-version.js';
import type { Pod } from '../../webhook/core/pod.js';
import { admittedPodOf, loadCases } from '../golden/harness.js';
import { annotationsArb, podArb, policy } from '../helpers/pod-arbitraries.js';

const cases = loadCases();

/**
 * The left-out field a path (keys from the pod's root) reaches, and whether it goes below it:
 * `metadata.labels` is the field itself, `metadata.labels.app` below it.
 */
function leftOut(path: readonly string[]): { field: string; below: boolean } | undefined {
  const [top, key, i, field] = path;
  if (top === 'metadata' && key !== undefined && !READ_METADATA_FIELDS.has(key)) return { field: `metadata.${key}`, below: path.length > 2 };
  if (top === 'metadata' && (key === 'name' || key === 'generateName') && i !== undefined) return { field: `metadata.${key}`, below: true };
  if (top === 'spec' && UNREAD_SPEC_FIELDS.has(key ?? '')) return { field: `spec.${key}`, below: path.length > 2 };
  if (top === 'spec' && CONTAINER_LISTS.includes(key ?? '') && UNREAD_CONTAINER_FIELDS.has(field ?? '')) return { field: `spec.${key}[].${field}`, below: path.length > 4 };
  if (top === 'spec' && key === 'volumes' && field === 'persistentVolumeClaim' && UNREAD_CLAIM_FIELDS.has(path[4] ?? '')) return { field: `spec.volumes[].persistentVolumeClaim.${path[4]}`, below: path.length > 5 };
  return undefined;
}

/**
 * The pod behind proxies that record reads. Looking into a left-out field is always a read of it;
 * getting the field itself, asking whether it is there, or listing the keys of an object that holds
 * left-out fields is one too, unless zod does it (a loose object copies its unknown keys, values
 * unread). What zod itself checks is caught by the siblings below, whose left-out fields have the
 * wrong types.
 */
const fromZod = () => /[/\\]node_modules[/\\]zod[/\\]/.test(new Error().stack ?? '');
/** Objects whose keys include left-out fields: metadata, spec, each container. */
const holdsLeftOut = (path: readonly string[]) =>
  (path.length === 1 && (path[0] === 'metadata' || path[0] === 'spec')) ||
  (path.length === 3 && path[0] === 'spec' && CONTAINER_LISTS.includes(path[1]!)) ||
  (path.length === 4 && path[0] === 'spec' && path[1] === 'volumes' && path[3] === 'persistentVolumeClaim');
function watched(value: unknown, path: string[], reads: string[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const note = (key: string | symbol, how: string) => {
    if (typeof key === 'symbol') return;
    const where = [...path, key];
    const hit = leftOut(where);
    if (hit && (hit.below || !fromZod())) reads.push(`${how} ${where.join('.')} (${hit.field})`);
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
    getOwnPropertyDescriptor(target, key) {
      note(key, 'own');
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    ownKeys(target) {
      const hit = leftOut([...path, '*']);
      if (hit?.below) reads.push(`keys of ${path.join('.')} (${hit.field})`);
      else if (holdsLeftOut(path) && !fromZod()) reads.push(`keys of ${path.join('.')} (it holds left-out fields)`);
      return Reflect.ownKeys(target);
    },
  });
}

/** The pod's volumes with every claim's name set to `claimName` (a StatefulSet's claim templates). */
function claims(volumes: unknown, claimName: unknown): unknown {
  if (!Array.isArray(volumes)) return volumes;
  return volumes.map((v: Record<string, unknown>) => (v && typeof v === 'object' && v.persistentVolumeClaim && typeof v.persistentVolumeClaim === 'object' ? { ...v, persistentVolumeClaim: { ...(v.persistentVolumeClaim as object), claimName } } : v));
}

/** New values for every left-out field: what one pod of a workload has and its sibling does not. */
interface LeftOut {
  /** `name` and `generateName`, each set only where the pod has one. */
  readonly names: { readonly name: unknown; readonly generateName: unknown };
  /** Other metadata fields, set or added. */
  readonly metadata: Record<string, unknown>;
  /** Spec fields, set or added. */
  readonly spec: Record<string, unknown>;
  /** Set on every container: app, init and ephemeral. */
  readonly container: Record<string, unknown>;
  /** Set as the claim's name of every persistentVolumeClaim volume. */
  readonly claimName: unknown;
}

/** The pod with its left-out fields as `v` says: a pod sidelog must answer as it answers `pod`. */
function withLeftOut(pod: Pod, v: LeftOut): Pod {
  const spec = pod.spec as Pod['spec'] & Record<string, unknown>;
  const containers = (list: unknown) => (Array.isArray(list) ? list.map((c: Record<string, unknown>) => ({ ...c, ...v.container })) : list);
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      ...(pod.metadata?.name !== undefined ? { name: v.names.name } : {}),
      ...(pod.metadata?.generateName !== undefined ? { generateName: v.names.generateName } : {}),
      ...v.metadata,
    } as Pod['metadata'],
    spec: {
      ...spec,
      ...v.spec,
      ...(spec.volumes ? { volumes: claims(spec.volumes, v.claimName) } : {}),
      containers: containers(spec.containers),
      ...(spec.initContainers ? { initContainers: containers(spec.initContainers) } : {}),
      ...(spec.ephemeralContainers ? { ephemeralContainers: containers(spec.ephemeralContainers) } : {}),
    } as unknown as Pod['spec'],
  };
}

/**
 * A sibling whose left-out fields all have the wrong types, and whose names are empty strings:
 * anything that checked them (zod included) or told empty names apart would answer differently.
 */
function oddSibling(pod: Pod): Pod {
  return withLeftOut(pod, {
    names: { name: '', generateName: '' },
    metadata: { labels: 'not a map', ownerReferences: 5, uid: null, creationTimestamp: { odd: true }, managedFields: [1, 2] },
    spec: { hostname: 5, subdomain: [], nodeName: { x: 1 }, affinity: 'anywhere' },
    container: { image: 7, env: 'not a list', envFrom: { x: 1 } },
    claimName: 42,
  });
}

/** Every left-out field changed (or added): another StatefulSet, DaemonSet, Job or rollout sibling. */
function sibling(pod: Pod, n: number): Pod {
  return withLeftOut(pod, {
    names: { name: `renamed-${n}`, generateName: `gen-${n}-` },
    metadata: {
      labels: { ...(pod.metadata as { labels?: Record<string, string> })?.labels, 'pod-template-hash': `h${n}`, 'controller-uid': `uid-${n}` },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `rs-${n}`, uid: `u-${n}`, controller: true }],
    },
    spec: {
      hostname: `host-${n}`,
      subdomain: `sub-${n}`,
      nodeName: `node-${n}`,
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [`node-${n}`] }] }] } } },
    },
    container: { image: `other/image:${n}`, env: [{ name: 'SIBLING', value: String(n) }], envFrom: [{ configMapRef: { name: `cm-${n}` } }] },
    claimName: `data-db-${n}`,
  });
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

  it.each(goldenInputs)('%s: siblings that differ in every left-out field (other values, wrong types) have the same shape and the same answer', (_name, pod, rest) => {
    for (const other of [sibling(pod, 7), oddSibling(pod)]) {
      expect(shapeText(podShape(other))).toBe(shapeText(podShape(pod)));
      expect(answerOf({ ...rest, object: other })).toEqual(answerOf({ ...rest, object: pod }));
    }
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
        expect(answerOf({ ...rest, object: oddSibling(pod) })).toEqual(answer);
        if (answer.patch !== '[]') injected++;
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
    expect(injected).toBeGreaterThan(0);
  });

  it('keeps what sidelog reads: a change there is another shape', () => {
    const [, pod] = goldenInputs.find(([name]) => name === 'mixed-native')!;
    const shape = shapeText(podShape(pod));
    const changed: Array<[string, Pod]> = [
      ['a container name', { ...pod, spec: { ...pod.spec, containers: pod.spec.containers.map((c, i) => (i ? c : { ...c, name: 'other' })) } }],
      ['a mount', { ...pod, spec: { ...pod.spec, containers: pod.spec.containers.map((c, i) => (i ? c : { ...c, volumeMounts: [{ name: 'x', mountPath: '/x' }] })) } }],
      ['a port', { ...pod, spec: { ...pod.spec, containers: pod.spec.containers.map((c, i) => (i ? c : { ...c, ports: [{ containerPort: 2020 }] })) } }],
      ['an annotation', { ...pod, metadata: { ...pod.metadata, annotations: { ...pod.metadata?.annotations, x: 'y' } } }],
      ['the namespace', { ...pod, metadata: { ...pod.metadata, namespace: 'elsewhere' } }],
      ['a name that is not a string', { ...pod, metadata: { ...pod.metadata, name: 5 as never } }],
      ['the grace period', { ...pod, spec: { ...pod.spec, terminationGracePeriodSeconds: 1 } }],
      ['the security context', { ...pod, spec: { ...pod.spec, securityContext: { runAsUser: 1234 } } }],
      ['a volume', { ...pod, spec: { ...pod.spec, volumes: [...(pod.spec.volumes ?? []), { name: 'data', persistentVolumeClaim: { claimName: 'd' } }] } }],
    ];
    for (const [what, other] of changed) expect([what, shapeText(podShape(other)) === shape]).toEqual([what, false]);
    expect(podShape(pod)).not.toBe(pod);
    expect(podShape('not a pod')).toBe('not a pod');
  });

  it('tells apart what JSON text would blur: a __proto__ key, numbers JSON cannot write, strings posing as them', () => {
    const parsed = (json: string) => podShape(JSON.parse(json));
    const containers = '"containers":[{"name":"a"}]';
    // As JSON.parse gives it, __proto__ is a field of its own; the shape must neither read through it nor lose it.
    const viaProto = parsed(`{"spec":{${containers},"__proto__":{"initContainers":[{"name":"i"}]}}}`) as { spec: Record<string, unknown> };
    expect(Object.hasOwn(viaProto.spec, 'initContainers')).toBe(false);
    const texts = [
      `{"spec":{${containers},"__proto__":{"initContainers":[{"name":"i"}]}}}`,
      `{"spec":{${containers},"initContainers":[{"name":"i"}]}}`,
      `{"spec":{"__proto__":{${containers}}}}`,
      `{"spec":{${containers}}}`,
      `{"__proto__":{"spec":{${containers}}}}`,
      `{"spec":{${containers},"terminationGracePeriodSeconds":1e400}}`,
      `{"spec":{${containers},"terminationGracePeriodSeconds":-1e400}}`,
      `{"spec":{${containers},"terminationGracePeriodSeconds":null}}`,
      `{"spec":{${containers},"terminationGracePeriodSeconds":"\\u0000nInfinity"}}`,
      `{"spec":{${containers},"terminationGracePeriodSeconds":"\\u0000\\u0000nInfinity"}}`,
      `{"spec":{${containers},"terminationGracePeriodSeconds":"nInfinity"}}`,
    ];
    const shapes = texts.map((t) => shapeText(parsed(t)));
    expect(new Set(shapes).size).toBe(texts.length);
  });
});
