/**
 * AdmissionReview answers: serialized in one pass, and remembered only when they repeat.
 *
 * The pods one ReplicaSet or one Job creates are identical at admission (the name is generated
 * after admission), so a scale-up asks the same question many times, byte for byte. So:
 * - the key is the SHA-256 of the request's raw bytes without the uid (and of what else decides
 *   the answer: policy version, enforcement, cluster version), computed only for bodies up to
 *   64 KiB, before anything is parsed or serialized;
 * - an answer is remembered on its key's second sighting only (a doorkeeper of digests), so
 *   distinct pods keep nothing alive;
 * - the memo is bounded by the bytes it holds, not by a count;
 * - a hit answers from the bytes alone: no JSON parse, no validation (the same bytes were
 *   validated when the answer was made), the uid spliced in.
 *
 * Other pods of one workload are not byte for byte the same, yet `mutate` gives them the same
 * answer: a DaemonSet's pods differ in their node affinity, a StatefulSet's in their names and
 * claims' names, a CronJob's Jobs in their labels, a new ReplicaSet's in its hash label and the
 * image being rolled out (an Indexed Job's pods differ in an annotation, so they are not one
 * shape). So a review whose bytes are new is parsed and validated, and then looked up by its pod's *shape*
 * (core/pod-shape.ts: the pod without the fields sidelog never reads) with everything else that
 * decides the answer; remembered the same way, on the shape's second sighting.
 */
import { createHash } from 'node:crypto';
import { type AdmissionReview, type ReviewContext, type ReviewResult, answerReview } from './inject/admission.js';
import { ByteLru, Sightings } from './core/memo.js';
import { podShape, shapeText } from './core/pod-shape.js';
import type { Policy } from './core/policy.js';
import type { BodyScan } from './review-bytes.js';

/** What the route logs and counts about an answer (kept with remembered answers). */
export interface AnswerFacts extends Omit<ReviewResult, 'review'> {
  readonly operation: string;
  readonly dryRun: boolean;
}

/** A review answer ready to send: the AdmissionReview as JSON text (fresh) or its UTF-8 bytes (remembered). */
export interface SerializedAnswer extends AnswerFacts {
  readonly uid: string;
  readonly body: string | Buffer;
  /** Whether the answer came from the memo, and found by what: the request's bytes or its pod's shape. */
  readonly remembered: false | 'bytes' | 'shape';
}

export interface ReviewCache {
  /**
   * Answer the review in `raw` (already scanned). `parse` turns the bytes into a validated
   * review (throwing the HTTP error to send); it is called only when the answer is not remembered
   * by the bytes (a review found by its pod's shape is parsed and validated first).
   */
  answer(raw: Buffer, scan: BodyScan, ctx: ReviewContext, parse: () => AdmissionReview): SerializedAnswer;
  /** Bytes the remembered answers hold. */
  readonly bytes: number;
  readonly size: number;
}

export interface ReviewCacheOptions {
  /** Memory the remembered answers may hold. */
  readonly maxBytes: number;
  /** Larger request bodies are neither hashed nor remembered. */
  readonly maxBodyBytes: number;
}

export const REVIEW_CACHE_DEFAULTS: ReviewCacheOptions = { maxBytes: 4 * 1024 * 1024, maxBodyBytes: 64 * 1024 };

interface Entry extends AnswerFacts, AnswerBytes {}

/** The serialized answer around the uid's JSON string. */
export interface AnswerText {
  readonly before: string;
  readonly after: string;
}

/** The same in UTF-8 bytes. */
interface AnswerBytes {
  readonly before: Buffer;
  readonly after: Buffer;
}

const json = JSON.stringify;

/**
 * The answer as text, in one pass: every value is serialized once (the patch was serialized and
 * base64-encoded by the core; base64 needs no escaping), split around the uid.
 */
export function serializeAnswer(fresh: ReviewResult): AnswerText {
  const r = fresh.review.response;
  let after = `,"allowed":${r.allowed}`;
  if (r.patchType !== undefined && r.patch !== undefined) after += `,"patchType":${json(r.patchType)},"patch":"${r.patch}"`;
  if (r.warnings !== undefined) after += `,"warnings":${json(r.warnings)}`;
  if (r.auditAnnotations !== undefined) after += `,"auditAnnotations":${json(r.auditAnnotations)}`;
  if (r.status !== undefined) after += `,"status":${json(r.status)}`;
  return { before: `{"apiVersion":${json(fresh.review.apiVersion)},"kind":"AdmissionReview","response":{"uid":`, after: `${after}}}` };
}

/**
 * A remembered answer in UTF-8 bytes, encoded once when it is admitted: each hit copies them
 * around the uid, where a string would be encoded again on every send (measured: 3 µs less CPU
 * per remembered review). Fresh answers stay strings: their bytes would be memory outside the V8
 * heap for every distinct pod, which makes V8 collect sooner (measured: more GC work).
 */
function toBytes(text: AnswerText): AnswerBytes {
  return { before: Buffer.from(text.before, 'utf8'), after: Buffer.from(text.after, 'utf8') };
}

/** A remembered answer with its uid: one buffer, the uid's JSON written between the two parts. */
function withUid(bytes: AnswerBytes, uid: string): Buffer {
  const uidJson = json(uid);
  const uidBytes = Buffer.byteLength(uidJson);
  const body = Buffer.allocUnsafe(bytes.before.length + uidBytes + bytes.after.length);
  bytes.before.copy(body, 0);
  body.write(uidJson, bytes.before.length, 'utf8');
  bytes.after.copy(body, bytes.before.length + uidBytes);
  return body;
}

/** The uid token's value when it is one a review may carry (1 to 256 characters). */
function uidOf(raw: Buffer, scan: BodyScan): string | undefined {
  if (!scan.uid) return undefined;
  try {
    const uid: unknown = JSON.parse(raw.toString('utf8', scan.uid.start, scan.uid.end));
    return typeof uid === 'string' && uid.length >= 1 && uid.length <= 256 ? uid : undefined;
  } catch {
    return undefined;
  }
}

export function createReviewCache(opts: ReviewCacheOptions = REVIEW_CACHE_DEFAULTS): ReviewCache {
  const memo = new ByteLru<Entry>(opts.maxBytes);
  const sightings = new Sightings();
  const policyIds = new WeakMap<Policy, number>();
  let nextPolicyId = 0;
  const policyId = (p: Policy) => {
    let id = policyIds.get(p);
    if (id === undefined) policyIds.set(p, (id = nextPolicyId++));
    return id;
  };
  const contextOf = (ctx: ReviewContext) => `${policyId(ctx.policy)}\u0000${ctx.enforcement}\u0000${ctx.kubeVersion ? `${ctx.kubeVersion.major}.${ctx.kubeVersion.minor}` : ''}\u0000`;
  const keyOf = (raw: Buffer, scan: BodyScan, context: string): string | undefined => {
    if (raw.length > opts.maxBodyBytes || !scan.uid) return undefined;
    return createHash('sha256').update(context).update(raw.subarray(0, scan.uid.start)).update(raw.subarray(scan.uid.end)).digest('base64');
  };
  /**
   * The key of a parsed review by its pod's shape and every request field `answerReview` reads
   * (all but the uid, which the answer gets spliced in). `shape:` keeps it apart from byte keys.
   */
  const shapeKeyOf = (raw: Buffer, review: AdmissionReview, context: string): string | undefined => {
    if (raw.length > opts.maxBodyBytes) return undefined;
    const r = review.request;
    const asked = [review.apiVersion, r.kind.group, r.kind.kind, r.subResource ?? null, r.namespace ?? null, r.operation, podShape(r.object)];
    return `shape:${createHash('sha256').update(context).update(shapeText(asked)).digest('base64')}`;
  };
  return {
    get bytes() {
      return memo.bytes;
    },
    get size() {
      return memo.size;
    },
    answer(raw, scan, ctx, parse) {
      // What decides the answer besides the request: both keys start with it.
      const context = contextOf(ctx);
      const key = keyOf(raw, scan, context);
      const scannedUid = key !== undefined ? uidOf(raw, scan) : undefined;
      if (key !== undefined && scannedUid !== undefined) {
        const hit = memo.get(key);
        if (hit) return { ...facts(hit), uid: scannedUid, body: withUid(hit, scannedUid), remembered: 'bytes' };
      }
      const review = parse();
      const uid = review.request.uid;
      const dryRun = review.request.dryRun ?? false;
      const shapeKey = shapeKeyOf(raw, review, context);
      if (shapeKey !== undefined) {
        const hit = memo.get(shapeKey);
        if (hit) return { ...facts(hit), dryRun, uid, body: withUid(hit, uid), remembered: 'shape' };
      }
      const fresh = answerReview(review, ctx);
      const text = serializeAnswer(fresh);
      const answerFacts: AnswerFacts = { outcome: fresh.outcome, namespace: fresh.namespace, result: fresh.result, operation: review.request.operation, dryRun };
      // Remember only on the second sighting (of the bytes, or of the shape), and the bytes only
      // when they said what the parse did.
      const admit: string[] = [];
      if (key !== undefined && scannedUid === uid && sightings.sight(key)) admit.push(key);
      if (shapeKey !== undefined && sightings.sight(shapeKey)) admit.push(shapeKey);
      if (admit.length) {
        const bytes = toBytes(text);
        const entry: Entry = { ...answerFacts, ...bytes };
        const size = bytes.before.length + bytes.after.length + 512 + 128 * (fresh.result.injection?.streams.length ?? 0);
        for (const k of admit) memo.set(k, entry, size);
      }
      return { ...answerFacts, uid, body: `${text.before}${json(uid)}${text.after}`, remembered: false };
    },
  };
}

function facts(e: Entry): AnswerFacts {
  return { outcome: e.outcome, namespace: e.namespace, result: e.result, operation: e.operation, dryRun: e.dryRun };
}
