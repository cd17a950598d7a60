/**
 * AdmissionReview in, AdmissionReview out (admission.k8s.io/v1 and v1beta1). Validates the
 * review with zod, hands the pod to `mutate`, and wraps the answer: base64 JSONPatch and
 * `patchType` only when there is a patch, warnings, audit annotations. Pure, like mutate.
 */
import { z } from 'zod';
import type { KubeVersion } from '../core/kube-version.js';
import { type Enforcement, type MutateResult, mutate } from './mutate.js';
import { patchText } from '../core/patch.js';
import type { Policy } from '../core/policy.js';
import { type Problem, zodProblems } from '../core/problems.js';

export const REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;

const GroupVersionKind = z.looseObject({ group: z.string(), version: z.string(), kind: z.string() });

export const AdmissionReviewSchema = z.looseObject({
  apiVersion: z.enum(REVIEW_VERSIONS),
  kind: z.literal('AdmissionReview'),
  request: z.looseObject({
    uid: z.string().min(1).max(256),
    kind: GroupVersionKind,
    subResource: z.string().optional(),
    namespace: z.string().optional(),
    name: z.string().optional(),
    operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
    object: z.unknown().optional(),
    dryRun: z.boolean().optional(),
  }),
});

export type AdmissionReview = z.output<typeof AdmissionReviewSchema>;

export interface AdmissionResponse {
  apiVersion: string;
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    patchType?: 'JSONPatch';
    patch?: string;
    warnings?: string[];
    auditAnnotations?: Record<string, string>;
    status?: { code: number; message: string; reason?: string };
  };
}

export interface ReviewContext {
  readonly policy: Policy;
  readonly enforcement: Enforcement;
  readonly kubeVersion?: KubeVersion | undefined;
}

export type ReviewOutcome = 'injected' | 'skipped' | 'denied';

export interface ReviewResult {
  readonly review: AdmissionResponse;
  readonly outcome: ReviewOutcome;
  readonly namespace: string;
  /** What the route needs for metrics and logs (not the whole mutated pod). */
  readonly result: Pick<MutateResult, 'skip' | 'injection' | 'warnings'>;
}

/** UTF-8 bytes of the reused buffer: texts up to a third as many characters fit (the bench review's patch is 10 KB). */
const SCRATCH_BYTES = 64 * 1024;
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

/**
 * Base64 of a text's UTF-8 bytes. A patch of up to 21,845 characters (at most 64 KB of UTF-8) is
 * encoded into one buffer the process reuses (synchronously, so no two answers share it at once):
 * `Buffer.from(text)` would allocate memory outside the V8 heap for every distinct pod, and V8
 * counts that memory towards its next full collection.
 */
export function base64(text: string): string {
  if (text.length * 3 > SCRATCH_BYTES) return Buffer.from(text, 'utf8').toString('base64');
  return scratch.toString('base64', 0, scratch.write(text, 0, 'utf8'));
}

/** Validate the body; problems name the field (`request.uid: ...`). */
export function parseReview(body: unknown): { review: AdmissionReview } | { problems: Problem[] } {
  const parsed = AdmissionReviewSchema.safeParse(body);
  return parsed.success ? { review: parsed.data } : { problems: zodProblems('', parsed.error) };
}

/** Answer one validated review. */
export function answerReview(review: AdmissionReview, ctx: ReviewContext): ReviewResult {
  const req = review.request;
  const object = req.object as { metadata?: { namespace?: unknown } } | undefined;
  const namespace = req.namespace ?? (typeof object?.metadata?.namespace === 'string' ? object.metadata.namespace : 'default');
  const isPod = req.kind.group === '' && req.kind.kind === 'Pod';
  const result = mutate({
    object: req.object,
    namespace,
    policy: ctx.policy,
    operation: req.operation,
    kind: isPod ? 'Pod' : `${req.kind.group ? `${req.kind.group}/` : ''}${req.kind.kind}`,
    subResource: req.subResource,
    enforcement: ctx.enforcement,
    kubeVersion: ctx.kubeVersion,
  });
  const response: AdmissionResponse['response'] = { uid: req.uid, allowed: result.allowed };
  let outcome: ReviewOutcome = 'skipped';
  if (!result.allowed) {
    outcome = 'denied';
    response.status = { code: 400, reason: 'BadRequest', message: result.denial ?? 'sidelog: refused' };
  } else if (result.patch.length) {
    outcome = 'injected';
    response.patchType = 'JSONPatch';
    response.patch = base64(patchText(result.patch));
  }
  if (result.warnings.length) response.warnings = result.warnings;
  const audit: Record<string, string> = {};
  if (result.injection) {
    audit.injected = result.injection.streams.map((s) => `${s.name}:${s.mode}${s.output ? `:${s.output}` : ''}`).join(',');
  }
  if (result.skip) audit.skipped = result.skip.code;
  if (Object.keys(audit).length) response.auditAnnotations = audit;
  const summary = { warnings: result.warnings, ...(result.skip ? { skip: result.skip } : {}), ...(result.injection ? { injection: result.injection } : {}) };
  return { review: { apiVersion: review.apiVersion, kind: 'AdmissionReview', response }, outcome, namespace, result: summary };
}
