/**
 * Answers to identical reviews, remembered. The pods a ReplicaSet, Job or DaemonSet creates are
 * identical at admission (the name is generated after admission), so a scale-up asks the same
 * question many times. `answerReview` is pure, so the answer to the same pod, namespace,
 * enforcement, policy version and cluster version is the same bytes: a bounded LRU keyed on
 * exactly those keeps the work to one injection per distinct pod. Only the uid differs per request.
 */
import { type AdmissionReview, type ReviewContext, type ReviewResult, answerReview } from './core/admission.js';
import type { Policy } from './core/policy.js';

export interface ReviewCache {
  answer(review: AdmissionReview, ctx: ReviewContext): ReviewResult;
  readonly size: number;
}

/** Objects larger than this are not remembered (their key would cost more than it saves). */
const MAX_KEY_BYTES = 64 * 1024;

export function createReviewCache(capacity = 256): ReviewCache {
  const entries = new Map<string, ReviewResult>();
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
      if (object.length > MAX_KEY_BYTES) return answerReview(review, ctx);
      const v = ctx.kubeVersion;
      const key = [policyId(ctx.policy), ctx.enforcement, v ? `${v.major}.${v.minor}` : '', r.operation, r.kind.group, r.kind.kind, r.subResource ?? '', r.namespace ?? '', review.apiVersion, object].join('\u0000');
      const hit = entries.get(key);
      if (hit) {
        entries.delete(key);
        entries.set(key, hit);
        return { ...hit, review: { ...hit.review, response: { ...hit.review.response, uid: r.uid } } };
      }
      const fresh = answerReview(review, ctx);
      entries.set(key, fresh);
      if (entries.size > capacity) entries.delete(entries.keys().next().value as string);
      return fresh;
    },
  };
}
