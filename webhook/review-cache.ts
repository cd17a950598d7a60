/**
 * AdmissionReview answers: serialized in one pass, and remembered only when they repeat.
 *
 * The pods of one workload ask the same question many times. A ReplicaSet's scale-up sends the
 * same review byte for byte but the uid (the name is generated after admission); the pods of a
 * StatefulSet, a DaemonSet, a CronJob's Jobs or a new ReplicaSet differ in fields sidelog never
 * reads: names, labels, node affinity, images, env, claim names. So the key of a review is its
 * *shape* read off its raw bytes (review-bytes.ts: the bytes with the uid and every value that
 * neither the answer nor its validation depends on cut out; core/pod-shape.ts lists them),
 * with what else decides the answer (policy version, enforcement, cluster version), for bodies
 * up to 64 KiB, before anything is parsed or serialized. The shape's text is the key itself (a
 * Map compares it whole: cheaper than a SHA-256 of it, 6 % of a remembered review's instructions),
 * or its SHA-256 when it is longer than V8 hashes strings in full:
 * - an answer is remembered on its key's second sighting only (a doorkeeper of digests), so
 *   distinct pods keep nothing alive;
 * - the memo is bounded by the bytes it holds, not by a count;
 * - a hit answers from the bytes alone: no JSON parse, no validation (what the shape keeps was
 *   validated when the answer was made; what it cuts out is checked to be JSON, unless it is
 *   the same bytes as the remembered review's), the uid spliced in.
 */
import { type AdmissionReview, type ReviewContext, type ReviewResult, answerReview } from './inject/admission.js';
import { ByteLru, MAX_HASHED_STRING, Sightings, digest } from './core/memo.js';
import type { Policy } from './core/policy.js';
import { type BodyScan, UID, isJsonText, plainString, writeShape } from './review-bytes.js';

/** What the route logs and counts about an answer (kept with remembered answers). */
export interface AnswerFacts extends Omit<ReviewResult, 'review'> {
  readonly operation: string;
  readonly dryRun: boolean;
}

/**
 * A remembered answer as sent: the answer up to and with the uid (`head`, text made for this
 * review, ~100 bytes) and the rest (`tail`, the memo's own bytes, ~14 KB for a typical pod),
 * written one after the other. Every hit shares the tail; nothing copies it but the TLS write.
 */
export class AnswerParts {
  constructor(
    readonly head: string,
    readonly tail: Buffer,
  ) {}

  get byteLength(): number {
    return Buffer.byteLength(this.head) + this.tail.length;
  }

  /** The whole answer as text. */
  toString(): string {
    return this.head + this.tail.toString('utf8');
  }
}

/** A review answer ready to send: the AdmissionReview as JSON text (fresh) or in parts (remembered). */
export interface SerializedAnswer extends AnswerFacts {
  readonly uid: string;
  readonly body: string | AnswerParts;
  /**
   * Whether the answer came from the memo: `bytes` when the review was the remembered one's but
   * for the uid, `shape` when it differed where the shape cuts out.
   */
  readonly remembered: false | 'bytes' | 'shape';
}

export interface ReviewCache {
  /**
   * Answer the review in `raw`, scanned with its shape's cuts when it is `remembers(raw)`.
   * `parse` turns the bytes into a validated review (throwing the HTTP error to send); it is
   * called only when the answer is not remembered.
   */
  answer(raw: Buffer, scan: BodyScan, ctx: ReviewContext, parse: () => AdmissionReview): SerializedAnswer;
  /** Whether a body of this size may be remembered (scan it with its shape's cuts then). */
  remembers(raw: Buffer): boolean;
  /** Bytes the remembered answers hold. */
  readonly bytes: number;
  readonly size: number;
}

export interface ReviewCacheOptions {
  /** Memory the remembered answers may hold. */
  readonly maxBytes: number;
  /** Larger request bodies are neither hashed nor remembered. */
  readonly maxBodyBytes: number;
  /**
   * Larger memo entries (the answer's bytes, the cut values and the key) are not kept. A response
   * on its way out keeps its answer's bytes after the memo has let them go, so each holds at most
   * this much (docs/capacity.md).
   */
  readonly maxAnswerBytes: number;
}

export const REVIEW_CACHE_DEFAULTS: ReviewCacheOptions = { maxBytes: 4 * 1024 * 1024, maxBodyBytes: 64 * 1024, maxAnswerBytes: 128 * 1024 };

interface Entry extends AnswerFacts, AnswerBytes {
  /** The bytes the remembered review's shape cut out (the uid's excepted), one after another. */
  readonly cut: Buffer;
  /** The length of each of them. */
  readonly cutLengths: readonly number[];
}

/** The serialized answer around the uid's JSON string. */
export interface AnswerText {
  readonly before: string;
  readonly after: string;
}

/** The same with the part after the uid in UTF-8 bytes. */
interface AnswerBytes {
  readonly before: string;
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
 * A remembered answer's part after the uid in UTF-8 bytes, encoded once when it is admitted: every
 * hit sends these same bytes, where a string would be encoded again on every send (measured: 3 µs
 * less CPU per remembered review), and a copy per hit would be memory outside the V8 heap that
 * only a collection frees (measured: up to 8 MB under load). Fresh answers stay strings: their
 * bytes would be memory outside the V8 heap for every distinct pod (measured: more GC work).
 */
function toBytes(text: AnswerText): AnswerBytes {
  return { before: text.before, after: Buffer.from(text.after, 'utf8') };
}

/** The uid token's value when it is one a review may carry (1 to 256 characters). */
function uidOf(raw: Buffer, scan: BodyScan): string | undefined {
  if (!scan.uid) return undefined;
  const { start, end } = scan.uid;
  const plain = plainString(raw, start, end);
  if (plain !== undefined) return plain;
  try {
    const uid: unknown = JSON.parse(raw.toString('utf8', start, end));
    return typeof uid === 'string' && uid.length >= 1 && uid.length <= 256 ? uid : undefined;
  } catch {
    return undefined;
  }
}

/** The cut values' bytes (the uid's excepted), one after another, and the length of each. */
function cutBytes(raw: Buffer, cuts: readonly number[]): { cut: Buffer; cutLengths: number[] } {
  const parts: Buffer[] = [];
  for (let c = 0; c < cuts.length; c += 3) if (cuts[c + 2] !== UID) parts.push(raw.subarray(cuts[c]!, cuts[c + 1]!));
  return { cut: Buffer.concat(parts), cutLengths: parts.map((p) => p.length) };
}

/** Whether `length` bytes of `a` from `aAt` equal those of `b` from `bAt`; short runs are compared here, not by a native call each. */
function sameBytes(a: Buffer, aAt: number, b: Buffer, bAt: number, length: number): boolean {
  if (length > 32) return a.compare(b, bAt, bAt + length, aAt, aAt + length) === 0;
  for (let i = 0; i < length; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}

/**
 * How a review's cut values (the uid's excepted) compare with the remembered review's: all the
 * same bytes (`bytes`), or some other but each of those JSON (`shape`), or some not JSON
 * (undefined: the review is then parsed, and refused). Only a value that differs is parsed.
 */
function compareCut(raw: Buffer, cuts: readonly number[], remembered: Pick<Entry, 'cut' | 'cutLengths'>): 'bytes' | 'shape' | undefined {
  const { cut, cutLengths } = remembered;
  let at = 0;
  let value = 0;
  let same = true;
  for (let c = 0; c < cuts.length; c += 3) {
    if (cuts[c + 2] === UID) continue;
    const start = cuts[c]!;
    const end = cuts[c + 1]!;
    const length = end - start;
    const mine = cutLengths[value++];
    if (mine !== length || !sameBytes(raw, start, cut, at, length)) {
      same = false;
      // Read as JSON.parse would, without building the value (test/property/json-text.property.test.ts).
      if (!isJsonText(raw, start, end)) return undefined;
    }
    if (mine !== undefined) at += mine;
  }
  return same && value === cutLengths.length ? 'bytes' : 'shape';
}

export function createReviewCache(opts: ReviewCacheOptions = REVIEW_CACHE_DEFAULTS): ReviewCache {
  const memo = new ByteLru<Entry>(opts.maxBytes, opts.maxAnswerBytes);
  const sightings = new Sightings();
  const policyIds = new WeakMap<Policy, number>();
  let nextPolicyId = 0;
  const policyId = (p: Policy) => {
    let id = policyIds.get(p);
    if (id === undefined) policyIds.set(p, (id = nextPolicyId++));
    return id;
  };
  /** The last context's text: the policy, enforcement and version change seldom, so it is written again only when one does. */
  let last: { policy: Policy; enforcement: ReviewContext['enforcement']; kubeVersion: ReviewContext['kubeVersion']; text: string } | undefined;
  const contextOf = (ctx: ReviewContext): string => {
    if (last && last.policy === ctx.policy && last.enforcement === ctx.enforcement && last.kubeVersion === ctx.kubeVersion) return last.text;
    const text = `${policyId(ctx.policy)}\u0000${ctx.enforcement}\u0000${ctx.kubeVersion ? `${ctx.kubeVersion.major}.${ctx.kubeVersion.minor}` : ''}\u0000`;
    last = { policy: ctx.policy, enforcement: ctx.enforcement, kubeVersion: ctx.kubeVersion, text };
    return text;
  };
  /** The context and the shape are written here. */
  const scratch = Buffer.allocUnsafe(opts.maxBodyBytes + 256);
  /**
   * The last key made, with the bytes it was made of: a review with the same context and shape
   * as the one before it (a workload's pods, one after another) gets that key back after one
   * comparison of bytes, without making a string of them and hashing it again (measured: ~15 %
   * of a remembered review's lookup).
   */
  let lastKey = '';
  let lastBytes = Buffer.alloc(0);
  /** What decides the answer besides the request, and the review's shape: as text (one byte a character), or its SHA-256 (`#…`). */
  const keyOf = (raw: Buffer, cuts: readonly number[], context: string): string => {
    const at = scratch.write(context, 0, 'latin1');
    const end = writeShape(raw, cuts, scratch, at);
    if (end === lastBytes.length && scratch.compare(lastBytes, 0, end, 0, end) === 0) return lastKey;
    lastKey = end <= MAX_HASHED_STRING ? scratch.toString('latin1', 0, end) : `#${digest(scratch.subarray(0, end))}`;
    lastBytes = Buffer.from(scratch.subarray(0, end));
    return lastKey;
  };
  const remembers = (raw: Buffer) => raw.length <= opts.maxBodyBytes;
  return {
    get bytes() {
      return memo.bytes;
    },
    get size() {
      return memo.size;
    },
    remembers,
    answer(raw, scan, ctx, parse) {
      const cuts = remembers(raw) ? scan.cuts : undefined;
      const key = cuts !== undefined ? keyOf(raw, cuts, contextOf(ctx)) : undefined;
      const scannedUid = key !== undefined ? uidOf(raw, scan) : undefined;
      if (key !== undefined && scannedUid !== undefined) {
        const hit = memo.get(key);
        // Not JSON where it was cut: the parse below refuses it.
        const found = hit && compareCut(raw, cuts!, hit);
        if (hit && found) return answered(hit, scannedUid, new AnswerParts(hit.before + json(scannedUid), hit.after), found);
      }
      const review = parse();
      const uid = review.request.uid;
      const fresh = answerReview(review, ctx);
      const text = serializeAnswer(fresh);
      const answerFacts: AnswerFacts = { outcome: fresh.outcome, namespace: fresh.namespace, result: fresh.result, operation: review.request.operation, dryRun: review.request.dryRun ?? false };
      // Remember only on the second sighting, and only when the bytes said what the parse did.
      if (key !== undefined && scannedUid === uid && sightings.sight(key)) {
        const bytes = toBytes(text);
        const cut = cutBytes(raw, cuts!);
        const entry: Entry = { ...answerFacts, ...bytes, ...cut };
        memo.set(key, entry, bytes.before.length + bytes.after.length + cut.cut.length + 8 * cut.cutLengths.length + 512 + 128 * (fresh.result.injection?.streams.length ?? 0));
      }
      return answered(answerFacts, uid, `${text.before}${json(uid)}${text.after}`, false);
    },
  };
}

/**
 * An answer: written out property by property, not spread. Properties after a spread in an object
 * literal are each defined by a runtime call (callgrind: ~1.4k instructions each, on every review).
 */
function answered(f: AnswerFacts, uid: string, body: string | AnswerParts, remembered: SerializedAnswer['remembered']): SerializedAnswer {
  return { outcome: f.outcome, namespace: f.namespace, result: f.result, operation: f.operation, dryRun: f.dryRun, uid, body, remembered };
}
