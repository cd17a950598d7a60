/**
 * The review memo never changes an answer (issue 10): generated workloads' pods, each edited
 * somewhere (where sidelog reads and where it does not; with other values, values of the wrong
 * type, fields added, keys escaped, JSON broken), sent through one memo, each review twice (so it
 * is admitted) and in any order. Every answer the memo gives, remembered or not, must be the answer
 * the review gets when worked out alone, with its own uid; a review that cannot be parsed or
 * validated must be refused, never answered from memory.
 */
import fc from 'fast-check';
import { type AdmissionReview, answerReview, parseReview } from '../../webhook/inject/admission.js';
import { createReviewCache } from '../../webhook/review-cache.js';
import { scanBody } from '../../webhook/review-bytes.js';
import { annotationsArb, podArb, policy } from '../helpers/pod-arbitraries.js';
import { admissionReview } from '../http/client.js';

type Json = any;

/** Edits of a parsed review: each returns the edited review (a copy) or text to replace. */
const edits: ReadonlyArray<[string, (r: Json, v: string) => Json]> = [
  ['a label', (r, v) => ((r.request.object.metadata.labels = { app: 'x', 'pod-template-hash': v }), r)],
  ['labels of the wrong type', (r, v) => ((r.request.object.metadata.labels = v.length % 2 ? 5 : [v]), r)],
  ['the pod name', (r, v) => ((r.request.object.metadata.name = `p-${v}`), r)],
  ['a pod name that is not a string', (r) => ((r.request.object.metadata.name = 7), r)],
  ['an image', (r, v) => ((r.request.object.spec.containers[0].image = `img:${v}`), r)],
  ['env', (r, v) => ((r.request.object.spec.containers[0].env = [{ name: 'V', value: v }]), r)],
  ['the node name', (r, v) => ((r.request.object.spec.nodeName = v), r)],
  ['the request name', (r, v) => ((r.request.name = v), r)],
  ['the user', (r, v) => ((r.request.userInfo = { username: v }), r)],
  ['a container name', (r, v) => ((r.request.object.spec.containers[0].name = `c${v.length}`), r)],
  ['a container more', (r, v) => (r.request.object.spec.containers.push({ name: `more-${v.length % 3}`, image: 'x' }), r)],
  ['an annotation', (r, v) => ((r.request.object.metadata.annotations = { ...r.request.object.metadata.annotations, [`x/${v.length % 3}`]: v }), r)],
  ['the streams', (r, v) => ((r.request.object.metadata.annotations['sidelog.io/streams'] = `- path: /var/log/app/${v.length % 4}.log\n  container: web\n`), r)],
  ['the namespace', (r, v) => ((r.request.namespace = v.length % 2 ? 'team-a' : 'team-b'), r)],
  ['dryRun', (r, v) => ((r.request.dryRun = v.length % 2 === 0), r)],
  ['the operation', (r, v) => ((r.request.operation = v.length % 2 ? 'CREATE' : 'UPDATE'), r)],
  ['the grace period', (r, v) => ((r.request.object.spec.terminationGracePeriodSeconds = v.length), r)],
  ['a volume more', (r, v) => ((r.request.object.spec.volumes = [...(r.request.object.spec.volumes ?? []), { name: `vol-${v.length % 3}`, persistentVolumeClaim: { claimName: v } }]), r)],
  ['containers of the wrong type', (r) => ((r.request.object.spec.containers = {}), r)],
  ['a uid too long', (r) => ((r.request.uid = 'u'.repeat(300)), r)],
];
/** Edits of the text: escaped keys, broken JSON, whitespace. */
const textEdits: ReadonlyArray<[string, (t: string, v: string) => string]> = [
  ['an escaped image key', (t) => t.replace('"image":', '"im\\u0061ge":')],
  ['an escaped labels key', (t) => t.replace('"labels":', '"l\\u0061bels":')],
  ['an escaped request key', (t) => t.replace('"userInfo":', '"user\\u0049nfo":')],
  ['a label that is not JSON', (t) => t.replace(/"labels":\{[^}]*\}/, '"labels":{"a":tru}')],
  ['an image with a raw control character', (t, v) => t.replace(/"image":"[^"]*"/, `"image":"a\u0001${v.length}"`)],
  ['a name with a bad escape', (t) => t.replace(/"name":"[^"]*"/, '"name":"a\\qb"')],
  ['whitespace', (t) => t.replace('"spec":', '"spec" : ')],
];

/** The answer working the review out alone gives, or 'refused' when it cannot be parsed or validated. */
function alone(raw: Buffer): unknown {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'refused';
  }
  const parsed = parseReview(body);
  if ('problems' in parsed) return 'refused';
  return answerReview(parsed.review, { policy, enforcement: 'enabled', kubeVersion: { major: 1, minor: 30 } }).review;
}

describe('the review memo never changes an answer', () => {
  it('on generated workloads, edited anywhere, each review sent twice, in any order', () => {
    const ctx = { policy, enforcement: 'enabled' as const, kubeVersion: { major: 1, minor: 30 } };
    const seen = { remembered: 0, shape: 0, refused: 0 };
    fc.assert(
      fc.property(
        podArb,
        annotationsArb,
        fc.array(fc.tuple(fc.nat(edits.length + textEdits.length - 1), fc.string({ maxLength: 8 })), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (pod, ann, chosen, order) => {
          pod.metadata!.annotations = { ...pod.metadata!.annotations, 'sidelog.io/streams': ann.streams, ...(ann.agent ? { 'sidelog.io/agent': ann.agent } : {}) };
          (pod.metadata as Json).labels = { app: 'x', 'pod-template-hash': 'h0' };
          const base = admissionReview(pod, { uid: 'base', namespace: 'team-a' });
          // The workload's own pods (edits only where sidelog does not read), and the edited ones.
          const texts = [JSON.stringify(base), JSON.stringify(edits[0]![1](structuredClone(base), 'h1'))];
          for (const [k, v] of chosen) {
            if (k < edits.length) texts.push(JSON.stringify(edits[k]![1](structuredClone(base), v)));
            else texts.push(textEdits[k - edits.length]![1](JSON.stringify(base), v));
          }
          const sends = [...texts.keys(), ...texts.keys()];
          for (const [i, o] of order.entries()) {
            const j = o % sends.length;
            [sends[i % sends.length], sends[j]] = [sends[j]!, sends[i % sends.length]!];
          }
          const cache = createReviewCache();
          for (const [n, k] of sends.entries()) {
            const t = texts[k]!;
            const uid = `uid-${n}`;
            const raw = Buffer.from(t.includes('"uid":"base"') ? t.replace('"uid":"base"', `"uid":"${uid}"`) : t);
            const expected = alone(raw);
            let got: unknown;
            try {
              const a = cache.answer(raw, scanBody(raw, cache.remembers(raw)), ctx, () => {
                const parsed = parseReview(JSON.parse(raw.toString('utf8')));
                if ('problems' in parsed) throw new Error('invalid review');
                return parsed.review as AdmissionReview;
              });
              got = JSON.parse(String(a.body));
              if (a.remembered) seen.remembered++;
              if (a.remembered === 'shape') seen.shape++;
            } catch {
              got = 'refused';
              seen.refused++;
            }
            expect(got).toEqual(expected);
          }
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) },
    );
    // The run exercised all three: answers from memory by bytes and by shape, and refusals.
    expect(seen.remembered).toBeGreaterThan(seen.shape);
    expect(seen.shape).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });
});
