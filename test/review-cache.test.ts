/**
 * Remember only what repeats, bounded by bytes (issues 8 and 10): the review memo keyed by a hash
 * of the review's shape read off its raw bytes (without the uid and what sidelog never reads),
 * admitted on the second sighting, answering hits from the bytes with the right uid; the answer
 * serialized in one pass; the annotation memo bounded by bytes; the body scan that finds
 * `request.uid` and measures nesting.
 */
import { type AdmissionReview, answerReview, base64, parseReview } from '../webhook/inject/admission.js';
import { ByteLru, Sightings, memoize } from '../webhook/core/memo.js';
import { parsePolicy } from '../webhook/core/policy.js';
import { AnswerParts, REVIEW_CACHE_DEFAULTS, createReviewCache, serializeAnswer } from '../webhook/review-cache.js';
import { MAX_DEPTH, nestingDepth, scanBody } from '../webhook/review-bytes.js';
import { loadCases, podOf } from './golden/harness.js';
import { admissionReview } from './http/client.js';

const cases = loadCases();
const policy = parsePolicy(cases[0]!.policyText);
const ctx = { policy, enforcement: 'enabled' as const, kubeVersion: { major: 1, minor: 30 } };
const sample = podOf(cases.find((c) => c.name === 'mixed-native')!.input);

function reviewBytes(object: unknown, uid: string, namespace = 'team-a'): Buffer {
  return Buffer.from(JSON.stringify(admissionReview(object, { uid, namespace })));
}
const parse = (raw: Buffer) => () => (parseReview(JSON.parse(raw.toString())) as { review: AdmissionReview }).review;
/** What the route does: scan (with the shape's cuts when the body may be remembered), then answer. */
const answer = (cache: ReturnType<typeof createReviewCache>, raw: Buffer, c: Parameters<ReturnType<typeof createReviewCache>['answer']>[2] = ctx, p = parse(raw)) => cache.answer(raw, scanBody(raw, cache.remembers(raw)), c, p);

describe('serializeAnswer: one pass, the same AdmissionReview as the core', () => {
  it.each(cases.filter((c) => c.kubeVersion === '1.30').map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const review = parse(reviewBytes(podOf(c.input), 'the-uid', c.namespace))();
    const fresh = answerReview(review, { ...ctx, enforcement: c.enforcement });
    const text = serializeAnswer(fresh);
    expect(JSON.parse(`${text.before}"the-uid"${text.after}`)).toEqual(fresh.review);
  });
});

describe('base64 of a patch through the reused buffer', () => {
  it('equals Buffer.from(text).toString("base64"), one call after another, at every size around the buffer\'s', () => {
    const texts = ['', 'a', 'ab', 'abc', 'ü', '日本語', '\u{1F600}x', 'x'.repeat(21_845), 'é'.repeat(10_922), 'y'.repeat(21_846), 'z'.repeat(200_000), '[{"op":"add"}]'];
    for (const t of [...texts, ...texts.reverse()]) expect(base64(t)).toBe(Buffer.from(t, 'utf8').toString('base64'));
  });
});

describe('the review memo', () => {
  it('remembers an answer on its second sighting and answers the third from the bytes, with its own uid', () => {
    const cache = createReviewCache();
    const answers = ['u1', 'u2', 'u3', 'u\\"4'].map((uid) => {
      const raw = reviewBytes(sample, uid);
      return answer(cache, raw);
    });
    expect(answers.map((a) => a.remembered)).toEqual([false, false, 'bytes', 'bytes']);
    expect(cache.size).toBe(1);
    for (const [i, a] of answers.entries()) {
      const uid = ['u1', 'u2', 'u3', 'u\\"4'][i]!;
      const fresh = answerReview(parse(reviewBytes(sample, uid))(), ctx);
      expect(JSON.parse(String(a.body))).toEqual(fresh.review);
      expect([a.uid, a.outcome, a.namespace, a.operation, a.dryRun]).toEqual([uid, 'injected', 'team-a', 'CREATE', false]);
    }
  });

  it('reads every way a uid can be written: plain, escaped, with a quote, a control character or a non-ASCII letter, or the longest allowed', () => {
    const cache = createReviewCache();
    // Warm the memo so the rest are answered from it, where the uid is read off the bytes.
    for (const uid of ['w1', 'w2']) answer(cache, reviewBytes(sample, uid));
    const written: Array<[string, string]> = [
      ['"plain-1"', 'plain-1'],
      ['"a\\u0062c"', 'abc'],
      ['"q\\"uote"', 'q"uote'],
      ['"tab\\t"', 'tab\t'],
      ['"\u00fc-umlaut"', '\u00fc-umlaut'],
      ['"\x7f"', '\x7f'],
      [`"${'x'.repeat(256)}"`, 'x'.repeat(256)],
    ];
    for (const [token, uid] of written) {
      const raw = Buffer.from(reviewBytes(sample, 'PLACEHOLDER').toString('utf8').replace('"PLACEHOLDER"', token));
      const a = answer(cache, raw);
      expect([a.remembered, a.uid]).toEqual(['bytes', uid]);
      expect(JSON.parse(String(a.body)).response.uid).toBe(uid);
    }
  });

  it('answers each hit with its own head and the memo\'s own bytes after it, never written to: answers held at once stay whole', () => {
    const cache = createReviewCache();
    for (const uid of ['w1', 'w2']) answer(cache, reviewBytes(sample, uid));
    // Sixty answers held at once, as in-flight responses are.
    const held = Array.from({ length: 60 }, (_, i) => answer(cache, reviewBytes(sample, `held-${i}`)));
    const fresh = answerReview(parse(reviewBytes(sample, 'x'))(), ctx).review;
    const tail = (held[0]!.body as AnswerParts).tail;
    const tailBefore = Buffer.from(tail);
    for (const [i, a] of held.entries()) {
      expect(a.remembered).toBe('bytes');
      expect(a.body).toBeInstanceOf(AnswerParts);
      // One copy of the bytes after the uid, whatever the number of hits.
      expect((a.body as AnswerParts).tail).toBe(tail);
      expect(JSON.parse(String(a.body))).toEqual({ ...fresh, response: { ...fresh.response, uid: `held-${i}` } });
    }
    expect(tail.equals(tailBefore)).toBe(true);
  });

  it('writes multi-byte text (uid, warnings) whole, fresh (text) and remembered (UTF-8 bytes)', () => {
    const cache = createReviewCache();
    // A stream whose output the namespace may not use: a warning that quotes the pod's own text.
    const pod = { ...sample, metadata: { ...sample.metadata, annotations: { ...sample.metadata!.annotations, 'sidelog.io/streams': `${sample.metadata!.annotations!['sidelog.io/streams']}\n- {path: /var/log/app/other.log, container: web, output: nö-ßuch}` } } };
    for (const uid of ['ид-1', 'ид-2', '日本-3']) {
      const raw = reviewBytes(pod, uid);
      const a = answer(cache, raw);
      const fresh = answerReview(parse(raw)(), ctx);
      expect(fresh.review.response.patch).toBeDefined();
      expect(fresh.review.response.warnings?.some((w) => /[^\x00-\x7f]/.test(w))).toBe(true);
      expect(typeof a.body === 'string' ? Buffer.byteLength(a.body) : a.body.byteLength).toBe(Buffer.byteLength(JSON.stringify(fresh.review)));
      expect(typeof a.body === 'string').toBe(!a.remembered);
      expect(JSON.parse(String(a.body))).toEqual(fresh.review);
    }
    expect(cache.size).toBe(1);
  });

  /** The sample pod with one more container, named `extra-<i>`: a new shape each time. */
  const newShape = (i: number) => ({ ...sample, spec: { ...sample.spec, containers: [...sample.spec.containers, { name: `extra-${i}`, image: 'x' }] } });

  it('keeps nothing for distinct shapes (every one seen once)', () => {
    const cache = createReviewCache();
    for (let i = 0; i < 300; i++) {
      const raw = reviewBytes(newShape(i), `u${i}`);
      expect(answer(cache, raw).remembered).toBe(false);
    }
    expect([cache.size, cache.bytes]).toEqual([0, 0]);
  });

  it('answers the pods of one workload that differ only where sidelog never reads by their shape, each with its own answer\'s facts', () => {
    const cache = createReviewCache();
    // What tells apart a StatefulSet's, a DaemonSet's, a Job's or a new ReplicaSet's pods at admission.
    const sibling = (i: number) => ({
      ...sample,
      metadata: { ...sample.metadata, name: `db-${i}`, labels: { app: 'shop', 'pod-template-hash': `h${i}`, 'statefulset.kubernetes.io/pod-name': `db-${i}` }, ownerReferences: [{ uid: `owner-${i}` }] },
      spec: {
        ...sample.spec,
        hostname: `db-${i}`,
        subdomain: 'db',
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [`node-${i}`] }] }] } } },
        containers: sample.spec.containers.map((c) => ({ ...c, image: `app:${i}`, env: [{ name: 'N', value: String(i) }] })),
        volumes: [...(sample.spec.volumes ?? []), { name: 'data', persistentVolumeClaim: { claimName: `data-db-${i}` } }],
      },
    });
    const answers = Array.from({ length: 6 }, (_, i) => {
      const raw = reviewBytes(sibling(i), `u${i}`);
      return { a: answer(cache, raw), fresh: answerReview(parse(raw)(), ctx) };
    });
    expect(answers.map(({ a }) => a.remembered)).toEqual([false, false, 'shape', 'shape', 'shape', 'shape']);
    for (const [i, { a, fresh }] of answers.entries()) {
      expect(JSON.parse(String(a.body))).toEqual(fresh.review);
      expect([a.uid, a.outcome, a.namespace, a.operation]).toEqual([`u${i}`, 'injected', 'team-a', 'CREATE']);
    }
    // dryRun is part of the shape: a dry run is remembered as a shape of its own, with its dryRun.
    const dry = (i: number) => Buffer.from(JSON.stringify({ ...admissionReview(sibling(i), { uid: `dry${i}`, namespace: 'team-a' }), request: { ...admissionReview(sibling(i), { uid: `dry${i}`, namespace: 'team-a' }).request, dryRun: true } }));
    expect([10, 11, 12].map((i) => answer(cache, dry(i)))).toMatchObject([
      { remembered: false, dryRun: true, uid: 'dry10' },
      { remembered: false, dryRun: true, uid: 'dry11' },
      { remembered: 'shape', dryRun: true, uid: 'dry12' },
    ]);
    // A field sidelog reads is part of the shape: a container name, an annotation, the namespace.
    for (const [raw, why] of [
      [reviewBytes(newShape(1), 'n1'), 'a container more'],
      [reviewBytes({ ...sample, metadata: { ...sample.metadata, annotations: { ...sample.metadata!.annotations, other: 'x' } } }, 'n2'), 'an annotation more'],
      [reviewBytes(sibling(1), 'n3', 'team-b'), 'another namespace'],
      [reviewBytes({ ...sibling(1), metadata: { ...sibling(1).metadata, name: 7 } }, 'n4'), 'a name that is not a string'],
    ] as const) expect([why, answer(cache, raw).remembered]).toEqual([why, false]);
  });

  it('never answers from memory a body that is not JSON where its shape cuts out: the parse refuses it', () => {
    const cache = createReviewCache();
    for (const uid of ['v1', 'v2']) answer(cache, reviewBytes(sample, uid));
    const text = reviewBytes(sample, 'bad').toString();
    expect(text).toContain('"labels":{"app":"shop"}');
    for (const broken of ['{"app":shop}', '{"app":"sh\u0001op"}', '{"app":"sh\\qop"}', '{"app":"shop",}', 'tru', '{"app":"shop"']) {
      const raw = Buffer.from(text.replace('{"app":"shop"}', broken));
      expect(() => JSON.parse(raw.toString())).toThrow();
      expect(() => answer(cache, raw)).toThrow(SyntaxError);
    }
    // The same label as valid JSON of another kind is only another value: found by the shape.
    expect(answer(cache, Buffer.from(text.replace('{"app":"shop"}', '[1, {"x": null}]'))).remembered).toBe('shape');
  });

  it('keys shapes longer than V8 hashes in full by their digest: two of one length are two answers', () => {
    const cache = createReviewCache();
    const padded = (c: string) => ({ ...sample, metadata: { ...sample.metadata, annotations: { ...sample.metadata!.annotations, pad: c.repeat(20_000) } } });
    for (const c of ['a', 'b']) {
      const answers = ['1', '2', '3'].map((n) => answer(cache, reviewBytes(padded(c), `${c}${n}`)));
      expect(answers.map((a) => a.remembered)).toEqual([false, false, 'bytes']);
      for (const a of answers) expect(JSON.parse(String(a.body))).toEqual(answerReview(parse(reviewBytes(padded(c), a.uid))(), ctx).review);
    }
    expect(cache.size).toBe(2);
  });

  it('does not remember an answer larger than maxAnswerBytes: a response on its way out holds at most that much', () => {
    const cache = createReviewCache({ ...REVIEW_CACHE_DEFAULTS, maxAnswerBytes: 8 * 1024 });
    const answers = ['1', '2', '3', '4'].map((uid) => answer(cache, reviewBytes(sample, uid)));
    expect(Buffer.byteLength(String(answers[0]!.body))).toBeGreaterThan(8 * 1024);
    expect(answers.map((a) => a.remembered)).toEqual([false, false, false, false]);
    expect(cache.size).toBe(0);
    for (const a of answers) expect(JSON.parse(String(a.body))).toEqual(answerReview(parse(reviewBytes(sample, a.uid))(), ctx).review);
  });

  it('is bounded by the bytes it holds, not by a count', () => {
    // Large enough for many answers (a Fluent Bit config with its budgets, ~30 KB each).
    const cache = createReviewCache({ ...REVIEW_CACHE_DEFAULTS, maxBytes: 1024 * 1024, maxBodyBytes: 64 * 1024 });
    for (let i = 0; i < 100; i++) {
      const pod = { ...newShape(i), metadata: { ...sample.metadata, labels: { pad: 'x'.repeat(60) } } };
      for (const uid of ['a', 'b']) {
        const raw = reviewBytes(pod, uid);
        answer(cache, raw);
      }
    }
    expect(cache.bytes).toBeLessThanOrEqual(1024 * 1024);
    expect(cache.size).toBeGreaterThan(5);
    expect(cache.size).toBeLessThan(100); // 100 shapes, evicted by bytes
  });

  it('cannot be poisoned by a review whose pod differs only where JSON text would blur it (__proto__, 1e400)', () => {
    // A client that reaches /mutate sends its review twice (admitted), then the real pod comes.
    const streams = JSON.stringify(sample.metadata!.annotations!['sidelog.io/streams']);
    const podJson = (spec: string) => `{"metadata":{"name":"p","annotations":{"sidelog.io/streams":${streams}}},"spec":{${spec}}}`;
    const containers = JSON.stringify(sample.spec.containers);
    const review = (pod: string, uid: string) => Buffer.from(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"${uid}","kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"team-a","operation":"CREATE","object":${pod}}}`);
    for (const [forged, real] of [
      [`"containers":${containers},"__proto__":{"initContainers":[{"name":"own-init","image":"x"}]}`, `"containers":${containers},"initContainers":[{"name":"own-init","image":"x"}]`],
      [`"__proto__":{"containers":${containers}}`, `"containers":${containers}`],
      [`"containers":${containers},"terminationGracePeriodSeconds":1e400`, `"containers":${containers},"terminationGracePeriodSeconds":null`],
    ]) {
      const cache = createReviewCache();
      for (const uid of ['f1', 'f2']) {
        const raw = review(podJson(forged!), uid);
        answer(cache, raw);
      }
      const raw = review(podJson(real!), 'real');
      const a = answer(cache, raw);
      expect(a.remembered).toBe(false);
      expect(JSON.parse(String(a.body))).toEqual(answerReview(parse(raw)(), ctx).review);
    }
  });

  it('never remembers bodies over the size it hashes, and checks the size before hashing', () => {
    const cache = createReviewCache({ ...REVIEW_CACHE_DEFAULTS, maxBytes: 4 * 1024 * 1024, maxBodyBytes: 2048 });
    const big = { ...sample, metadata: { ...sample.metadata, annotations: { ...sample.metadata!.annotations, pad: 'x'.repeat(4096) } } };
    for (const uid of ['a', 'b', 'c']) {
      const raw = reviewBytes(big, uid);
      expect(answer(cache, raw).remembered).toBe(false);
    }
    expect(cache.size).toBe(0);
  });

  it('tells apart what decides the answer: namespace, enforcement, policy', () => {
    const cache = createReviewCache();
    const seen = (ns: string, c: typeof ctx | { policy: typeof policy; enforcement: 'required'; kubeVersion: typeof ctx.kubeVersion }) => {
      const raw = reviewBytes(sample, 'x', ns);
      return answer(cache, raw, c).remembered;
    };
    for (let i = 0; i < 2; i++) seen('team-a', ctx);
    expect(seen('team-a', ctx)).toBe('bytes');
    expect(seen('team-b', ctx)).toBe(false);
    expect(seen('team-a', { ...ctx, enforcement: 'required' })).toBe(false);
    expect(seen('team-a', { ...ctx, policy: parsePolicy(cases[0]!.policyText) })).toBe(false);
    expect(seen('team-a', { ...ctx, kubeVersion: { major: 1, minor: 28 } })).toBe(false);
  });

  it.each([
    ['a second uid key', (t: string) => t.replace('"uid":"x"', '"uid":"x","uid":"y"')],
    ['an escaped uid key', (t: string) => t.replace('"uid":"x"', '"uid":"x","\\u0075id":"y"')],
    ['a second request key', (t: string) => t.replace('{"apiVersion"', '{"request":{},"apiVersion"')],
  ])('answers with the uid JSON.parse sees, and never remembers, when the body has %s (the API server sends none of them)', (_what, edit) => {
    const cache = createReviewCache();
    const remembered: unknown[] = [];
    for (let i = 0; i < 4; i++) {
      const raw = Buffer.from(edit(reviewBytes(sample, 'x').toString()));
      const review = parse(raw)();
      const a = answer(cache, raw, ctx, () => review);
      remembered.push(a.remembered);
      expect(JSON.parse(String(a.body)).response.uid).toBe(review.request.uid);
    }
    expect(remembered).toEqual([false, false, false, false]);
    expect(cache.size).toBe(0);
  });
});

describe('scanBody', () => {
  it('finds request.uid, not the pod\'s own uid nor an owner\'s', () => {
    const pod = { metadata: { uid: 'pod-uid', ownerReferences: [{ uid: 'owner-uid' }] }, spec: {} };
    const raw = Buffer.from(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { uid: 'no' }, object: pod, uid: 'the-uid', options: {} } }));
    const scan = scanBody(raw);
    expect(raw.toString('utf8', scan.uid!.start, scan.uid!.end)).toBe('"the-uid"');
    expect(scan.depth).toBe(6); // review, request, object, metadata, ownerReferences, owner
  });

  it('stops at more than MAX_DEPTH levels, and nestingDepth agrees on parsed values', () => {
    expect(scanBody(Buffer.from('['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH))).depth).toBe(MAX_DEPTH);
    expect(scanBody(Buffer.from('[{"a":'.repeat(5000))).depth).toBe(MAX_DEPTH + 1);
    expect(scanBody(Buffer.from('{"a":"[[[[\\"[[["}')).depth).toBe(1);
    expect(nestingDepth(JSON.parse('{"a":[[{"b":[]}]]}'))).toBe(5);
    expect(nestingDepth(JSON.parse('['.repeat(5000) + ']'.repeat(5000)))).toBe(MAX_DEPTH + 1);
  });
});

describe('the annotation memo and its parts', () => {
  it('memoize: admits on the second sighting, keeps within its bytes', () => {
    let calls = 0;
    const fn = memoize((t) => ((calls++, { t })), { maxBytes: 100_000, sizeOf: (t) => t.length });
    const texts = Array.from({ length: 50 }, (_, i) => `${i}`.padEnd(1000, 'x'));
    for (const t of texts) fn(t);
    expect(calls).toBe(50);
    for (const t of texts) fn(t);
    expect(calls).toBe(100); // second sighting: computed again, now remembered (as far as 100 KB go)
    const first = fn(texts[49]!);
    expect(calls).toBe(100);
    expect(fn(texts[49]!)).toBe(first);
    fn(texts[0]!);
    expect(calls).toBe(101); // evicted long ago
  });

  it('ByteLru refuses an entry larger than its share, and evicts the least recently used', () => {
    const lru = new ByteLru<string>(1000, 400);
    expect(lru.set('big', 'x', 500)).toBe(false);
    lru.set('a', 'a', 300);
    lru.set('b', 'b', 300);
    lru.get('a');
    lru.set('c', 'c', 300);
    expect([lru.get('a'), lru.get('b'), lru.get('c')]).toEqual(['a', undefined, 'c']);
    expect(lru.bytes).toBeLessThanOrEqual(1000);
  });

  it('ByteLru gives recently read entries a second chance and never drops the entry being set', () => {
    const lru = new ByteLru<string>(1000, 1000);
    for (const k of ['a', 'b', 'c']) lru.set(k, k, 200); // 266 bytes each with the key
    lru.get('a');
    lru.get('b');
    // d needs room: c, the one not read since it was set, goes; a and b stay.
    lru.set('d', 'd', 200);
    expect(['a', 'b', 'c', 'd'].map((k) => lru.get(k))).toEqual(['a', 'b', undefined, 'd']);
    // Everything read again: the oldest after one round of second chances goes, never the new one.
    lru.set('e', 'e', 200);
    expect(lru.get('e')).toBe('e');
    expect(lru.size).toBe(3);
    expect(lru.bytes).toBeLessThanOrEqual(1000);
    // An entry as large as the bound replaces everything else.
    lru.set('whole', 'w', 1000 - 2 * 5 - 64);
    expect([lru.size, lru.get('whole'), lru.bytes]).toEqual([1, 'w', 1000]);
  });

  it('Sightings forgets the oldest beyond its capacity', () => {
    const s = new Sightings(2);
    expect([s.sight('a'), s.sight('b'), s.sight('c'), s.sight('b'), s.sight('a')]).toEqual([false, false, false, true, false]);
  });
});
