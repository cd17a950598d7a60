/**
 * Answers to identical reviews, remembered. The pods a ReplicaSet, Job or DaemonSet creates are
 * identical at admission (the name is generated after admission), so a scale-up asks the same
 * question many times. `answerReview` is pure, so the answer to the same pod, namespace,
 * enforcement, policy version and cluster version is the same bytes: a bounded LRU keyed on
 * exactly those keeps the work to one injection per distinct pod. Answers are kept serialized;
 * only the uid differs per request and is spliced in.
 */
import { type AdmissionReview, type ReviewContext, type ReviewResult, answerReview } from './core/admission.js';
import type { Policy } from './core/policy.js';

/** A review answer ready to send: the AdmissionReview as JSON text. */
export interface SerializedAnswer extends Omit<ReviewResult, 'review'> {
  readonly body: string;
}

export interface ReviewCache {
  answer(review: AdmissionReview, ctx: ReviewContext): SerializedAnswer;
  readonly size: number;
}

/** Objects larger than this are not remembered (their key would cost more than it saves). */
const MAX_KEY_BYTES = 64 * 1024;
const UID_MARK = '"__sidelog_uid__"';

interface Entry extends Omit<ReviewResult, 'review'> {
  /** The serialized answer split around the uid (the first string value after apiVersion and kind). */
  readonly before: string;
  readonly after: string;
}

function serialize(fresh: ReviewResult): Entry {
  const text = JSON.stringify({ ...fresh.review, response: { ...fresh.review.response, uid: '__sidelog_uid__' } });
  const at = text.indexOf(UID_MARK);
  return { outcome: fresh.outcome, namespace: fresh.namespace, result: fresh.result, before: text.slice(0, at), after: text.slice(at + UID_MARK.length) };
}

function withUid(e: Entry, uid: string): SerializedAnswer {
  return { outcome: e.outcome, namespace: e.namespace, result: e.result, body: `${e.before}${JSON.stringify(uid)}${e.after}` };
}

export function createReviewCache(capacity = 256): ReviewCache {
  const entries = new Map<string, Entry>();
  const policyIds = new WeakMap<Policy, number>();
  let nextPolicyId = 0;
  const policyId = (p: Policy) => {
    let id = policyIds.get(p);
    if (id === undefined) policyIds.set(p, (id = nextPolicyId++));
    return id;
  };
  return {
    get size() {
      return entries.size;
    },
    answer(review, ctx) {
      const r = review.request;
      const object = JSON.stringify(r.object ?? null);
      if (object.length > MAX_KEY_BYTES) return withUid(serialize(answerReview(review, ctx)), r.uid);
      const v = ctx.kubeVersion;
      const key = [policyId(ctx.policy), ctx.enforcement, v ? `${v.major}.${v.minor}` : '', r.operation, r.kind.group, r.kind.kind, r.subResource ?? '', r.namespace ?? '', review.apiVersion, object].join('\u0000');
      let entry = entries.get(key);
      if (entry) {
        entries.delete(key);
      } else {
        entry = serialize(answerReview(review, ctx));
        if (entries.size >= capacity) entries.delete(entries.keys().next().value as string);
      }
      entries.set(key, entry);
      return withUid(entry, r.uid);
    },
  };
}
