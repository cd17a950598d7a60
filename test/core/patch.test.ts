/**
 * The direct patch (webhook/core/patch.ts) on the shapes a pod can have: no `initContainers`, no
 * `volumes`, no `volumeMounts`, no annotations, no metadata at all, keys that need JSON-pointer
 * escaping, and annotations the pod already has. Each is checked against the deep-copy-and-diff
 * oracle (test/helpers/patch-oracle.ts) and by applying the patch as the API server would.
 */
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { type Additions, additionsPatch, applyAdditions, patchText } from '../../webhook/core/patch.js';
import type { Container, Pod } from '../../webhook/core/pod.js';
import { deepCopyMutated } from '../helpers/patch-oracle.js';

const sidecar = (name: string): Container => ({ name, image: 'busybox:1.37', restartPolicy: 'Always' });
const additions = (over: Partial<Additions> = {}): Additions => ({
  appMounts: [{ index: 0, mounts: [{ name: 'sidelog-logs-0', mountPath: '/var/log/app' }] }],
  volumes: [{ name: 'sidelog-logs-0', emptyDir: {} }],
  sidecars: [sidecar('sidelog-a'), sidecar('sidelog-b')],
  native: true,
  annotations: { 'sidelog.io/status': '{"version":1}', 'sidelog.io/agent-config': '# conf\n' },
  ...over,
});
const bare = (): Pod => ({ apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ name: 'web', image: 'app:1' }] } });
const full = (): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', annotations: { 'sidelog.io/streams': '- path: /a\n', 'sidelog.io/status': 'forged', 'a~b/c': 'x' } },
  spec: {
    containers: [{ name: 'web', image: 'app:1', volumeMounts: [{ name: 'cache', mountPath: '/cache' }] }, { name: 'worker', image: 'app:1' }],
    initContainers: [{ name: 'migrate', image: 'app:1' }],
    volumes: [{ name: 'cache', emptyDir: {} }],
  },
});

function applied(pod: Pod, add: Additions): Pod {
  return fastJsonPatch.applyPatch(structuredClone(pod), structuredClone(additionsPatch(pod, add)), true, false).newDocument;
}

describe('additionsPatch', () => {
  it.each([
    ['no metadata, no initContainers, no volumes, no volumeMounts', bare],
    ['annotations, initContainers, volumes and mounts already there', full],
  ])('equals the deep-copy result on a pod with %s (native and classic)', (_name, make) => {
    for (const native of [true, false]) {
      const pod = make();
      const before = structuredClone(pod);
      const add = additions({ native });
      expect(applied(pod, add)).toEqual(deepCopyMutated(pod, add));
      expect(applyAdditions(pod, add)).toEqual(deepCopyMutated(pod, add));
      expect(pod).toEqual(before);
    }
  });

  it('creates the arrays and the annotations object the pod does not have, in one operation each', () => {
    const pod = bare();
    pod.metadata = { name: 'p' };
    const add = additions();
    expect(additionsPatch(pod, add).map((o) => [o.op, o.path])).toEqual([
      ['add', '/spec/containers/0/volumeMounts'],
      ['add', '/spec/volumes'],
      ['add', '/spec/initContainers'],
      ['add', '/metadata/annotations'],
    ]);
    expect(additionsPatch(bare(), add).at(-1)).toEqual({ op: 'add', path: '/metadata', value: { annotations: add.annotations } });
  });

  it('appends after what the pod has, puts native sidecars in front, replaces an annotation it already has', () => {
    const pod = full();
    expect(additionsPatch(pod, additions()).map((o) => [o.op, o.path])).toEqual([
      ['add', '/spec/containers/0/volumeMounts/1'],
      ['add', '/spec/volumes/1'],
      ['add', '/spec/initContainers/0'],
      ['add', '/spec/initContainers/1'],
      ['replace', '/metadata/annotations/sidelog.io~1status'],
      ['add', '/metadata/annotations/sidelog.io~1agent-config'],
    ]);
    expect(applied(pod, additions()).spec.initContainers!.map((c) => c.name)).toEqual(['sidelog-a', 'sidelog-b', 'migrate']);
    expect(additionsPatch(pod, additions({ native: false })).filter((o) => o.path.startsWith('/spec/containers/')).map((o) => o.path)).toEqual([
      '/spec/containers/0/volumeMounts/1',
      '/spec/containers/2',
      '/spec/containers/3',
    ]);
  });

  it('escapes ~ and / in annotation keys (RFC 6901) and writes nothing for an annotation already so', () => {
    const pod = full();
    const ops = additionsPatch(pod, additions({ annotations: { 'a~b/c': 'y', 'sidelog.io/status': 'forged' } }));
    expect(ops.filter((o) => o.path.startsWith('/metadata'))).toEqual([{ op: 'replace', path: '/metadata/annotations/a~0b~1c', value: 'y' }]);
  });

  it('writes nothing when nothing is added', () => {
    expect(additionsPatch(full(), { appMounts: [], volumes: [], sidecars: [], native: true, annotations: {} })).toEqual([]);
  });

  it('puts the added objects themselves in the operations and the result, never copies', () => {
    const pod = full();
    const add = additions();
    const ops = additionsPatch(pod, add);
    expect((ops.find((o) => o.path === '/spec/initContainers/0') as { value: unknown }).value).toBe(add.sidecars[0]);
    expect((ops.find((o) => o.path === '/spec/volumes/1') as { value: unknown }).value).toBe(add.volumes[0]);
    const out = applyAdditions(pod, add);
    expect(out.spec.initContainers![0]).toBe(add.sidecars[0]);
    // Unchanged parts are shared with the input, changed ones are new objects.
    expect(out.spec.containers[1]).toBe(pod.spec.containers[1]);
    expect(out.spec.initContainers![2]).toBe(pod.spec.initContainers![0]);
    expect(out.spec.containers[0]).not.toBe(pod.spec.containers[0]);
    expect(out.spec.containers[0]!.volumeMounts![0]).toBe(pod.spec.containers[0]!.volumeMounts![0]);
    expect(out.metadata!.annotations).not.toBe(pod.metadata!.annotations);
  });
});

describe('patchText', () => {
  const long = (tag: string) => `[INPUT]\n    Name tail\n    Path /var/log/${tag}/*.log\n    Tag "q\\uote"\n${'    Key value\n'.repeat(30)}é 漢 \u2028 \ud800 \u0001 ${tag}`;
  const shapes: Array<[string, Operation[]]> = [
    ['the operations of each pod shape', [...additionsPatch(bare(), additions()), ...additionsPatch(full(), additions({ annotations: { 'sidelog.io/agent-config': long('a'), 'a/b': 'short' } }))]],
    ['a /metadata operation with long and short annotations', [{ op: 'add', path: '/metadata', value: { annotations: { x: long('m'), y: 'y' } } }]],
    ['annotations as one object, with undefined and non-string values', [{ op: 'add', path: '/metadata/annotations', value: { x: long('o'), u: undefined, n: 1, o: { deep: long('d') } } as never }]],
    ['a string longer than V8 hashes', [{ op: 'add', path: '/metadata/annotations/big', value: long('big').repeat(50) }]],
    ['operations with other keys or key orders', [{ path: '/a', op: 'add', value: long('r') } as never, { op: 'remove', path: '/b' }, { op: 'add', path: '/c', value: undefined } as never, { op: 'add', path: '/d', value: [long('arr'), null] }]],
  ];
  it.each(shapes)('is JSON.stringify of %s, remembered or not', (_name, ops) => {
    const expected = JSON.stringify(ops);
    expect(patchText(ops)).toBe(expected);
    expect(patchText(ops)).toBe(expected); // long strings' JSON now remembered
    expect(JSON.parse(patchText(ops))).toEqual(JSON.parse(expected));
  });

  it('is JSON.stringify of any JSON-like value, frozen (deeply, shallowly) or not, on every call', () => {
    const freezeSome = (v: unknown, pick: () => number): unknown => {
      if (typeof v !== 'object' || v === null) return v;
      for (const child of Object.values(v)) freezeSome(child, pick);
      const p = pick();
      if (p % 3 === 0) Object.freeze(v);
      return v;
    };
    const values = fc.oneof(
      fc.jsonValue(),
      fc.anything({ withBoxedValues: true, withNullPrototype: true, withSparseArray: true, withObjectString: true, maxDepth: 4 }),
      fc.array(fc.record({ name: fc.string(), value: fc.oneof(fc.string({ minLength: 250, maxLength: 400 }), fc.constant(undefined), fc.integer()), n: fc.double() }), { maxLength: 5 }),
    );
    fc.assert(
      fc.property(values, fc.array(fc.nat(), { minLength: 1, maxLength: 64 }), (value, picks) => {
        let i = 0;
        const v = freezeSome(value, () => picks[i++ % picks.length]!);
        const ops = [{ op: 'add', path: '/v', value: v }, { op: 'add', path: '/w', value: { inner: v, list: [v, v] } }] as Operation[];
        let expected: string;
        try {
          expected = JSON.stringify(ops);
        } catch {
          return; // a value JSON.stringify refuses (a BigInt) is never in a patch
        }
        expect(patchText(ops)).toBe(expected);
        expect(patchText(ops)).toBe(expected); // and again, with long strings remembered
      }),
      { numRuns: 2000 },
    );
  });

  it('re-reads an object that was frozen only on the outside, and one frozen later', () => {
    const inner = { a: 1 };
    const outer = Object.freeze({ inner });
    const op = (): Operation[] => [{ op: 'add', path: '/v', value: outer }];
    expect(patchText(op())).toBe(JSON.stringify(op()));
    inner.a = 2;
    expect(patchText(op())).toBe(JSON.stringify(op()));
    const later: { a: number; b?: number } = { a: 1 };
    const op2 = (): Operation[] => [{ op: 'add', path: '/v', value: later }];
    expect(patchText(op2())).toBe(JSON.stringify(op2()));
    later.b = 3;
    Object.freeze(later);
    expect(patchText(op2())).toBe(JSON.stringify(op2()));
    expect(patchText(op2())).toBe(JSON.stringify(op2()));
  });

  it('writes toJSON, Dates and class instances as JSON.stringify does', () => {
    class Box {
      constructor(readonly x: number) {}
    }
    const ops = [{ op: 'add', path: '/v', value: Object.freeze({ d: new Date(0), j: { toJSON: () => 'J' }, b: new Box(1), f: () => 1, s: Symbol('s') }) }] as Operation[];
    expect(patchText(ops)).toBe(JSON.stringify(ops));
    expect(patchText(ops)).toBe(JSON.stringify(ops));
  });

  it('does not confuse two different long strings of the same length', () => {
    const a = long('x1');
    const b = long('x2');
    expect(a.length).toBe(b.length);
    const op = (v: string): Operation[] => [{ op: 'add', path: '/v', value: v }];
    patchText(op(a));
    expect(patchText(op(b))).toBe(JSON.stringify(op(b)));
    expect(patchText(op(a))).toBe(JSON.stringify(op(a)));
  });
});
