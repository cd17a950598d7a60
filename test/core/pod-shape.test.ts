/**
 * The review shape (webhook/core/pod-shape.ts, read off the bytes by review-bytes.ts) is sound
 * only if sidelog never reads what it leaves out, and only if the scan cuts out exactly that.
 * On every golden case (the pod the controller creates, as the webhook receives it) and on
 * generated pods:
 *  - `mutate` runs on the pod behind a proxy that records every read; no read may go below a
 *    left-out field (into labels, env, affinity, ...), and left-out metadata may not be read at all
 *    beyond `name` and `generateName`, which are only checked to be strings; `answerReview` reads
 *    no request field the shape leaves out;
 *  - changing every left-out field changes nothing in the answer, while the shape is the same;
 *  - the scan's cuts are exactly the values at left-out places, as a parser of its own finds them
 *    (test/helpers/json-places.ts), on generated reviews with extra fields, escaped keys and
 *    whitespace.
 */
import fc from 'fast-check';
import { CONTAINER_LISTS, READ_METADATA_FIELDS, READ_REQUEST_FIELDS, UNREAD_CLAIM_FIELDS, UNREAD_CONTAINER_FIELDS, UNREAD_SPEC_FIELDS } from '../../webhook/core/pod-shape.js';
import { LEFT_OUT, STRING_KIND, UID, scanBody, writeShape } from '../../webhook/review-bytes.js';
import { answerReview, parseReview, type AdmissionReview } from '../../webhook/inject/admission.js';
import { type MutateInput, mutate } from '../../webhook/inject/mutate.js';
import { parseKubeVersion } from '../../webhook/core/kube-version.js';
import type { Pod } from '../../webhook/core/pod.js';
import { admittedPodOf, loadCases } from '../golden/harness.js';
import { annotationsArb, podArb, policy } from '../helpers/pod-arbitraries.js';
import { admissionReview } from '../http/client.js';
import { jsonPlaces } from '../helpers/json-places.js';

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

/** The shape of a review's bytes, as text. */
function shapeOfBytes(raw: Buffer): string {
  const scan = scanBody(raw, true);
  expect(scan.cuts).toBeDefined();
  const out = Buffer.alloc(raw.length);
  return out.toString('utf8', 0, writeShape(raw, scan.cuts!, out));
}

/** The shape of the review of `pod` (with `uid`) as the API server would send it. */
const shapeOf = (pod: unknown, uid = 'the-uid') => shapeOfBytes(Buffer.from(JSON.stringify(admissionReview(pod, { uid }))));

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

  it.each(goldenInputs)('%s: siblings that differ in every left-out field (other values, wrong types) have the same answer, and the same shape when they have the same fields', (_name, pod, rest) => {
    for (const other of [sibling(pod, 7), oddSibling(pod)]) expect(answerOf({ ...rest, object: other })).toEqual(answerOf({ ...rest, object: pod }));
    // The shape keeps which fields a pod has (a workload's pods all have the same), not their values.
    expect(shapeOf(sibling(pod, 8), 'another-uid')).toBe(shapeOf(sibling(pod, 7)));
    expect(shapeOf(sibling(oddSibling(pod), 8), 'another-uid')).toBe(shapeOf(oddSibling(pod)));
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
        expect([shapeOf(sibling(pod, 4)), shapeOf(sibling(oddSibling(pod), 4))]).toEqual([shapeOf(sibling(pod, 3)), shapeOf(oddSibling(pod))]);
        if (answer.patch !== '[]') injected++;
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
    expect(injected).toBeGreaterThan(0);
  });

  it('keeps what sidelog reads: a change there is another shape', () => {
    const [, pod] = goldenInputs.find(([name]) => name === 'mixed-native')!;
    const shape = shapeOf(pod);
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
    for (const [what, other] of changed) expect([what, shapeOf(other) === shape]).toEqual([what, false]);
    // And of the request: what the answer depends on.
    const review = JSON.stringify(admissionReview(pod, { uid: 'the-uid' }));
    for (const [what, edit] of [
      ['the operation', (t: string) => t.replace('"operation":"CREATE"', '"operation":"UPDATE"')],
      ['the namespace', (t: string) => t.replace('"namespace":"team-a"', '"namespace":"team-b"')],
      ['the kind', (t: string) => t.replace('"kind":{"group":"","version":"v1","kind":"Pod"}', '"kind":{"group":"","version":"v1","kind":"Pod2"}')],
      ['a subresource', (t: string) => t.replace('"operation"', '"subResource":"ephemeralcontainers","operation"')],
      ['dryRun', (t: string) => t.replace('"dryRun":false', '"dryRun":true')],
      ['a request name that is not a string', (t: string) => t.replace('"operation"', '"name":5,"operation"')],
      ['the review version', (t: string) => t.replace('admission.k8s.io/v1', 'admission.k8s.io/v1beta1')],
    ] as const) {
      const other = edit(review);
      expect(other).not.toBe(review);
      expect([what, shapeOfBytes(Buffer.from(other)) === shapeOfBytes(Buffer.from(review))]).toEqual([what, false]);
    }
    // What the answer does not depend on: the request's name (by its kind), the user, the options.
    const named = (name: string, options: string) => review.replace('"operation"', `"name":${name},"options":${options},"operation"`);
    const same = named('"shop-7"', '{"fieldManager":"x"}').replace('"username":"system:serviceaccount:kube-system:replicaset-controller"', '"username":"someone"');
    expect(shapeOfBytes(Buffer.from(same))).toBe(shapeOfBytes(Buffer.from(named('""', 'null'))));
    expect(shapeOfBytes(Buffer.from(named('5', 'null')))).not.toBe(shapeOfBytes(Buffer.from(named('""', 'null'))));
  });

  it('answerReview reads no request field the shape leaves out', () => {
    const [, pod, rest] = goldenInputs.find(([name]) => name === 'mixed-native')!;
    const review = (parseReview(admissionReview(pod, { uid: 'u', namespace: rest.namespace })) as { review: AdmissionReview }).review;
    const reads: string[] = [];
    const request = new Proxy(review.request, {
      get(target, key, receiver) {
        if (typeof key === 'string' && !READ_REQUEST_FIELDS.has(key) && key !== 'uid' && key !== 'object') reads.push(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
      ownKeys(target) {
        reads.push('(its keys)');
        return Reflect.ownKeys(target);
      },
    });
    const answer = answerReview({ ...review, request }, { policy: rest.policy, enforcement: rest.enforcement, kubeVersion: rest.kubeVersion });
    expect(answer.outcome).toBe('injected');
    expect(reads).toEqual([]);
  });

  it('tells apart what only the bytes tell: a __proto__ key, numbers JSON cannot write, strings posing as them', () => {
    const containers = '"containers":[{"name":"a"}]';
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
      `{"spec":{${containers},"terminationGracePeriodSeconds":"nInfinity"}}`,
      `{"spec":{${containers},"nodeName":0}}`,
      `{"spec":{${containers},"nodeName":"0"}}`,
    ];
    const review = (pod: string) => Buffer.from(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":${pod}}}`);
    const shapes = texts.map((t) => shapeOfBytes(review(t)));
    // nodeName is left out, whatever it is: the last two are one shape.
    expect(new Set(shapes).size).toBe(texts.length - 1);
    expect(shapes[10]).toBe(shapes[11]);
  });
});

/** What the shape does with the value at `place` (the spec of review-bytes.ts's scan), or undefined when it keeps it. */
function cutOf(place: { path: ReadonlyArray<string | number>; escaped: boolean; kind: string }): number | undefined {
  const p = place.path;
  if (place.escaped || p[0] !== 'request' || p.length < 2) return undefined;
  const key = String(p[p.length - 1]);
  if (p.length === 2) {
    if (key === 'uid') return place.kind === 'string' ? UID : undefined;
    if (key === 'name') return place.kind === 'string' ? STRING_KIND : undefined;
    return READ_REQUEST_FIELDS.has(key) || key === 'object' ? undefined : LEFT_OUT;
  }
  if (p[1] !== 'object') return undefined;
  if (p.length === 4 && p[2] === 'metadata') {
    if (key === 'name' || key === 'generateName') return place.kind === 'string' ? STRING_KIND : undefined;
    return READ_METADATA_FIELDS.has(key) ? undefined : LEFT_OUT;
  }
  if (p[2] !== 'spec') return undefined;
  if (p.length === 4 && UNREAD_SPEC_FIELDS.has(key)) return LEFT_OUT;
  if (p.length === 6 && CONTAINER_LISTS.includes(String(p[3])) && typeof p[4] === 'number' && UNREAD_CONTAINER_FIELDS.has(key)) return LEFT_OUT;
  if (p.length === 7 && p[3] === 'volumes' && typeof p[4] === 'number' && p[5] === 'persistentVolumeClaim' && UNREAD_CLAIM_FIELDS.has(key)) return LEFT_OUT;
  return undefined;
}

/** The cuts the spec asks for, as the scan gives them: outermost only, in order. */
function expectedCuts(raw: Buffer): number[] {
  const cuts: number[] = [];
  let coveredTo = -1;
  for (const place of jsonPlaces(raw)) {
    if (place.start < coveredTo) continue;
    const cut = cutOf(place);
    if (cut === undefined) continue;
    cuts.push(place.start, place.end, cut);
    coveredTo = place.end;
  }
  return cuts;
}

const EXTRA_KEYS = ['labels', 'name', 'generateName', 'namespace', 'annotations', 'image', 'env', 'envFrom', 'affinity', 'nodeName', 'hostname', 'claimName', 'persistentVolumeClaim', 'containers', 'volumes', 'uid', 'object', 'spec', 'metadata', 'options', 'userInfo', 'x'];
const extrasArb = fc.dictionary(fc.constantFrom(...EXTRA_KEYS), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 });
/** Keys written with an escape in the text (their values are kept whatever the key). */
const ESCAPES: ReadonlyArray<[string, string]> = [['"image":', '"im\\u0061ge":'], ['"labels":', '"l\\u0061bels":'], ['"metadata":', '"met\\u0061data":'], ['"spec":', '"sp\\u0065c":'], ['"userInfo":', '"user\\u0049nfo":']];

describe('the scan cuts out exactly the values at left-out places', () => {
  it('on generated reviews: extra fields of every kind, escaped keys, whitespace', () => {
    let cutsSeen = 0;
    fc.assert(
      fc.property(
        podArb,
        fc.record({ request: extrasArb, metadata: extrasArb, spec: extrasArb, container: extrasArb, volume: extrasArb }),
        fc.subarray([...ESCAPES]),
        fc.constantFrom(undefined, 1, '\t'),
        (pod, extra, escapes, indent) => {
          const p = pod as unknown as { metadata?: Record<string, unknown>; spec: Record<string, unknown> & { containers: Array<Record<string, unknown>>; volumes?: Array<Record<string, unknown>> } };
          Object.assign((p.metadata ??= {}), extra.metadata);
          Object.assign(p.spec, extra.spec);
          if (Array.isArray(p.spec.containers) && p.spec.containers[0]) Object.assign(p.spec.containers[0], extra.container);
          if (Array.isArray(p.spec.volumes) && p.spec.volumes[0]) Object.assign(p.spec.volumes[0], extra.volume);
          const review = admissionReview(pod, { uid: 'the-uid' });
          const request = { ...extra.request, ...review.request, uid: 'the-uid' };
          let text = JSON.stringify({ ...review, request }, null, indent);
          for (const [plain, escaped] of escapes) text = text.split(plain).join(escaped);
          const raw = Buffer.from(text);
          const scan = scanBody(raw, true);
          // An escaped key of the review or its request could be its uid: such a review is never remembered.
          if (jsonPlaces(raw).some((place) => place.path.length <= 2 && place.escaped)) return expect(scan).toEqual({ depth: scan.depth });
          expect(scan.uid).toBeDefined();
          expect(scan.cuts).toEqual(expectedCuts(raw));
          cutsSeen += scan.cuts!.length / 3;
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
    expect(cutsSeen).toBeGreaterThan(1000);
  });

  it('on every golden review', () => {
    for (const c of cases) {
      const raw = Buffer.from(JSON.stringify(admissionReview(admittedPodOf(c), { uid: 'u' })));
      expect([c.name, scanBody(raw, true).cuts]).toEqual([c.name, expectedCuts(raw)]);
    }
  });
});
