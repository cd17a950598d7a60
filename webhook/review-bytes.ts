/**
 * One linear pass over a request body's raw bytes, before anything else reads it:
 *  - how deeply it nests (everything downstream may recurse, so a body nested deeper than any
 *    Kubernetes object is refused before it is parsed);
 *  - where the AdmissionReview's `request.uid` string sits;
 *  - where the values sit that the review's *shape* leaves out (core/pod-shape.ts): what neither
 *    the answer nor its validation depends on. Reviews whose bytes are equal but for the uid and
 *    those values get the same answer, so they can be recognised from their bytes without parsing
 *    them: a ReplicaSet's pods (identical), a StatefulSet's, a DaemonSet's, a Job's (equal but for
 *    names, labels, node affinity, images, env, claim names).
 */
import { CONTAINER_LISTS, READ_METADATA_FIELDS, READ_REQUEST_FIELDS, UNREAD_CLAIM_FIELDS, UNREAD_CONTAINER_FIELDS, UNREAD_SPEC_FIELDS } from './core/pod-shape.js';

/** Deeper than any Kubernetes object (a pod in a review, managedFields included, is ~20 levels). */
export const MAX_DEPTH = 100;

/** A value the shape leaves out whole, written `0` in the shape. */
export const LEFT_OUT = 0;
/** A string of which the shape keeps only that it is a string (`metadata.name`), written `""`. */
export const STRING_KIND = 1;
/** The `request.uid` string, spliced into the answer, written `""` in the shape. */
export const UID = 2;

export interface BodyScan {
  /** Deepest nesting of objects and arrays (1 for `{}`); > MAX_DEPTH stops the scan there. */
  readonly depth: number;
  /**
   * Byte offsets of the `request.uid` string token, quotes included, when it is found exactly
   * once, as a plain key of the one top-level `request` object. Absent otherwise (the review is
   * then answered without the memo).
   */
  readonly uid?: { readonly start: number; readonly end: number };
  /**
   * With `uid`, when asked for: the values the review's shape leaves out, in the order they come,
   * as (start, end, LEFT_OUT | STRING_KIND | UID) triples of byte offsets. None nests in another.
   */
  readonly cuts?: readonly number[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const ZERO = 0x30;

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/*
 * Where a container sits in a review, as far as the shape cares. A key of a container in one of
 * these places decides its value: kept (and, for some, a place of its own), left out, or kept by
 * its kind. Everywhere else (OTHER) everything is kept.
 */
const OTHER = 0;
const ROOT = 1;
const REQUEST = 2;
const OBJECT = 3;
const METADATA = 4;
const SPEC = 5;
const CONTAINERS = 6;
const CONTAINER = 7;
const VOLUMES = 8;
const VOLUME = 9;
const CLAIM = 10;
/** Places that are arrays (their items' place follows); the others are objects. */
const ITEMS_OF: Readonly<Record<number, number>> = { [CONTAINERS]: CONTAINER, [VOLUMES]: VOLUME };

/** What a key says of its value: kept, or a place (> 0), or one of these. */
const KEEP = 0;
const LEAVE_OUT = -1;
const KIND = -2;
const THE_UID = -3;

const words = (set: ReadonlySet<string> | readonly string[]) => [...set];
const REQUEST_KEPT = words(READ_REQUEST_FIELDS);
const METADATA_KEPT = words(READ_METADATA_FIELDS).filter((k) => k !== 'name' && k !== 'generateName');
const SPEC_LEFT_OUT = words(UNREAD_SPEC_FIELDS);
const CONTAINER_LEFT_OUT = words(UNREAD_CONTAINER_FIELDS);
const CLAIM_LEFT_OUT = words(UNREAD_CLAIM_FIELDS);

function keyIs(bytes: Uint8Array, start: number, end: number, word: string): boolean {
  // start and end bound the key's characters (quotes excluded).
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (bytes[start + i] !== word.charCodeAt(i)) return false;
  return true;
}

function keyIn(bytes: Uint8Array, start: number, end: number, list: readonly string[]): boolean {
  for (let w = 0; w < list.length; w++) if (keyIs(bytes, start, end, list[w]!)) return true;
  return false;
}

/** What the key between `start` and `end` (unescaped) says of its value in `place` (no closures: this runs for every key). */
function follows(place: number, bytes: Uint8Array, start: number, end: number): number {
  switch (place) {
    case ROOT:
      return keyIs(bytes, start, end, 'request') ? REQUEST : KEEP;
    case REQUEST:
      if (keyIs(bytes, start, end, 'uid')) return THE_UID;
      if (keyIs(bytes, start, end, 'object')) return OBJECT;
      if (keyIs(bytes, start, end, 'name')) return KIND;
      return keyIn(bytes, start, end, REQUEST_KEPT) ? KEEP : LEAVE_OUT;
    case OBJECT:
      return keyIs(bytes, start, end, 'metadata') ? METADATA : keyIs(bytes, start, end, 'spec') ? SPEC : KEEP;
    case METADATA:
      if (keyIs(bytes, start, end, 'name') || keyIs(bytes, start, end, 'generateName')) return KIND;
      return keyIn(bytes, start, end, METADATA_KEPT) ? KEEP : LEAVE_OUT;
    case SPEC:
      if (keyIn(bytes, start, end, SPEC_LEFT_OUT)) return LEAVE_OUT;
      if (keyIn(bytes, start, end, CONTAINER_LISTS)) return CONTAINERS;
      return keyIs(bytes, start, end, 'volumes') ? VOLUMES : KEEP;
    case CONTAINER:
      return keyIn(bytes, start, end, CONTAINER_LEFT_OUT) ? LEAVE_OUT : KEEP;
    case VOLUME:
      return keyIs(bytes, start, end, 'persistentVolumeClaim') ? CLAIM : KEEP;
    case CLAIM:
      return keyIn(bytes, start, end, CLAIM_LEFT_OUT) ? LEAVE_OUT : KEEP;
    default:
      return KEEP;
  }
}

/**
 * Scan JSON bytes; with `shape`, find the values the review's shape leaves out too. Malformed JSON
 * scans to some answer; JSON.parse refuses it afterwards (and a remembered answer is given for
 * such a body only when the values it leaves out are JSON: review-cache.ts).
 *
 * An escaped key (`"im\u0061ge"`) decides nothing: its value is kept, whatever the key says.
 */
export function scanBody(bytes: Uint8Array, shape = false): BodyScan {
  // isObject[d] and place[d] of each open container at depth d (1-based).
  const isObject: boolean[] = [false];
  const place: number[] = [OTHER];
  let depth = 0;
  let maxDepth = 0;
  let expectKey = false;
  /** What the last key said of the value that follows it (KEEP once the value has begun). */
  let next = KEEP;
  let requests = 0;
  let uids = 0;
  let escapedKey = false;
  let uidStart = -1;
  let uidEnd = -1;
  const cuts: number[] = [];
  /** A container being left out: where it began, and the depth it closes back to. */
  let cutFrom = -1;
  let cutDepth = -1;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) {
      const start = i;
      let escaped = false;
      i++;
      while (i < n && bytes[i] !== QUOTE) {
        if (bytes[i] === BACKSLASH) {
          escaped = true;
          i++;
        }
        i++;
      }
      if (expectKey) {
        expectKey = false;
        if (depth <= 2 && escaped) escapedKey = true;
        const p = place[depth]!;
        next = p === OTHER || escaped ? KEEP : follows(p, bytes, start + 1, i);
      } else {
        if (next === THE_UID) {
          uids++;
          uidStart = start;
          uidEnd = i + 1;
          if (shape) cuts.push(start, i + 1, UID);
        } else if (shape && (next === LEAVE_OUT || next === KIND)) cuts.push(start, i + 1, next === KIND ? STRING_KIND : LEFT_OUT);
        next = KEEP;
      }
    } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      const object = b === OPEN_OBJECT;
      let inner = OTHER;
      if (depth === 0) inner = object ? ROOT : OTHER;
      else if (next > 0) inner = (ITEMS_OF[next] !== undefined) === !object ? next : OTHER;
      else if (next === LEAVE_OUT && cutDepth < 0) {
        cutFrom = i;
        cutDepth = depth;
      } else if (next === KEEP && !isObject[depth]) {
        const items = ITEMS_OF[place[depth]!];
        if (items !== undefined && object) inner = items;
      }
      if (inner === REQUEST) requests++;
      next = KEEP;
      depth++;
      if (depth > maxDepth) {
        maxDepth = depth;
        if (depth > MAX_DEPTH) return { depth };
      }
      isObject[depth] = object;
      place[depth] = inner;
      expectKey = object;
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      depth--;
      if (depth === cutDepth) {
        if (shape) cuts.push(cutFrom, i + 1, LEFT_OUT);
        cutDepth = -1;
      }
      expectKey = false;
      next = KEEP;
    } else if (b === COMMA) {
      expectKey = isObject[depth] === true;
      next = KEEP;
    } else if (next !== KEEP && b !== COLON && !isSpace(b)) {
      // A number, true, false or null after a key that decides something: left out whole, or kept.
      const start = i;
      while (i + 1 < n && !isSpace(bytes[i + 1]!) && bytes[i + 1] !== COMMA && bytes[i + 1] !== CLOSE_OBJECT && bytes[i + 1] !== CLOSE_ARRAY) i++;
      if (shape && next === LEAVE_OUT) cuts.push(start, i + 1, LEFT_OUT);
      next = KEEP;
    }
  }
  if (requests !== 1 || uids !== 1 || escapedKey) return { depth: maxDepth };
  const uid = { start: uidStart, end: uidEnd };
  return shape ? { depth: maxDepth, uid, cuts } : { depth: maxDepth, uid };
}

/**
 * A scanned body's shape: its bytes with each cut value written `0`, and each string kept by its
 * kind and the uid written `""`, into `out` from `at`; returns where it ends. Never longer than
 * the body (no value is shorter than what replaces it).
 */
export function writeShape(raw: Buffer, cuts: readonly number[], out: Buffer, at = 0): number {
  let n = at;
  let from = 0;
  for (let c = 0; c < cuts.length; c += 3) {
    n += raw.copy(out, n, from, cuts[c]);
    if (cuts[c + 2] === LEFT_OUT) out[n++] = ZERO;
    else (out[n++] = QUOTE), (out[n++] = QUOTE);
    from = cuts[c + 1]!;
  }
  return n + raw.copy(out, n, from);
}

/** Nesting depth of a parsed value, walked without recursion; stops counting past `limit`. */
export function nestingDepth(value: unknown, limit = MAX_DEPTH): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d > deepest) deepest = d;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, d + 1]);
  }
  return deepest;
}

const MINUS = 0x2d;
const DOT = 0x2e;
const NINE = 0x39;

function skipSpace(b: Uint8Array, i: number, end: number): number {
  while (i < end && isSpace(b[i]!)) i++;
  return i;
}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= ZERO && c <= NINE;
const isHex = (c: number | undefined): boolean => c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));

/** After the string token at `i`, or -1. Bytes from 0x80 are taken: decoded, they are characters (U+FFFD at worst). */
function skipString(b: Uint8Array, i: number, end: number): number {
  if (b[i] !== QUOTE) return -1;
  for (i++; i < end; ) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c !== BACKSLASH) {
      i++;
      continue;
    }
    const e = b[i + 1];
    if (e === 0x75) {
      // \uXXXX
      if (i + 6 > end || !isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) || !isHex(b[i + 5])) return -1;
      i += 6;
    } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
      i += 2;
    } else {
      return -1;
    }
  }
  return -1;
}

function skipDigits(b: Uint8Array, i: number, end: number): number {
  if (i >= end || !isDigit(b[i])) return -1;
  while (i < end && isDigit(b[i])) i++;
  return i;
}

function skipNumber(b: Uint8Array, i: number, end: number): number {
  if (b[i] === MINUS) i++;
  if (i >= end) return -1;
  if (b[i] === ZERO) i++;
  else if ((i = skipDigits(b, i, end)) < 0) return -1;
  if (i < end && b[i] === DOT && (i = skipDigits(b, i + 1, end)) < 0) return -1;
  if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < end && (b[i] === 0x2b || b[i] === MINUS)) i++;
    if ((i = skipDigits(b, i, end)) < 0) return -1;
  }
  return i;
}

function skipWord(b: Uint8Array, i: number, end: number, word: string): number {
  const after = i + word.length;
  return after <= end && keyIs(b, i, after, word) ? after : -1;
}

/** After the JSON value at `i` (no white space before it), or -1. */
function skipValue(b: Uint8Array, i: number, end: number): number {
  if (i >= end) return -1;
  const c = b[i]!;
  if (c === QUOTE) return skipString(b, i, end);
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    const object = c === OPEN_OBJECT;
    const close = object ? CLOSE_OBJECT : CLOSE_ARRAY;
    i = skipSpace(b, i + 1, end);
    if (b[i] === close) return i + 1;
    for (;;) {
      if (object) {
        i = skipString(b, i, end);
        if (i < 0) return -1;
        i = skipSpace(b, i, end);
        if (b[i] !== COLON) return -1;
        i = skipSpace(b, i + 1, end);
      }
      i = skipValue(b, i, end);
      if (i < 0) return -1;
      i = skipSpace(b, i, end);
      if (b[i] === close) return i + 1;
      if (b[i] !== COMMA) return -1;
      i = skipSpace(b, i + 1, end);
    }
  }
  if (c === MINUS || isDigit(c)) return skipNumber(b, i, end);
  if (c === 0x74) return skipWord(b, i, end, 'true');
  if (c === 0x66) return skipWord(b, i, end, 'false');
  if (c === 0x6e) return skipWord(b, i, end, 'null');
  return -1;
}

/**
 * The text of the string token at `bytes[start, end)` (quotes included) when it is 1 to 256
 * characters of printable ASCII without escapes, as API servers write uids: what JSON.parse would
 * give. Undefined for any other token, which is JSON.parse's to read or refuse.
 */
export function plainString(bytes: Buffer, start: number, end: number): string | undefined {
  if (end - start < 3 || end - start > 258 || bytes[start] !== QUOTE || bytes[end - 1] !== QUOTE) return undefined;
  for (let i = start + 1; i < end - 1; i++) {
    const b = bytes[i]!;
    if (b < 0x20 || b >= 0x80 || b === BACKSLASH || b === QUOTE) return undefined;
  }
  return bytes.toString('latin1', start + 1, end - 1);
}

/** Longest value {@link isJsonText} reads itself; longer ones are JSON.parse's. It recurses once per level. */
export const MAX_CHECKED_VALUE = 256;

/**
 * Whether `bytes[start, end)` is one JSON value, white space around it allowed, exactly as
 * `JSON.parse(bytes.toString('utf8', start, end))` would take it, without building it. Bytes from
 * 0x80 decode to characters (U+FFFD when they are not UTF-8), which JSON takes inside strings
 * only; the UTF-8 decoder never swallows an ASCII byte, so the structure is the bytes'.
 */
export function isJsonText(bytes: Uint8Array, start: number, end: number): boolean {
  if (end - start > MAX_CHECKED_VALUE) {
    try {
      JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8', start, end));
      return true;
    } catch {
      return false;
    }
  }
  const at = skipValue(bytes, skipSpace(bytes, start, end), end);
  return at >= 0 && skipSpace(bytes, at, end) === end;
}
