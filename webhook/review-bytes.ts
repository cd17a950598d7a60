/**
 * One linear pass over a request body's raw bytes, before anything else reads it: how deeply it
 * nests (everything downstream may recurse, so a body nested deeper than any Kubernetes object
 * is refused before it is parsed), and where the AdmissionReview's `request.uid` string sits, so
 * that identical reviews can be recognised from their bytes without parsing them.
 */

/** Deeper than any Kubernetes object (a pod in a review, managedFields included, is ~20 levels). */
export const MAX_DEPTH = 100;

export interface BodyScan {
  /** Deepest nesting of objects and arrays (1 for `{}`); > MAX_DEPTH stops the scan there. */
  readonly depth: number;
  /**
   * Byte offsets of the `request.uid` string token, quotes included, when it is found exactly
   * once, as a plain key of the one top-level `request` object. Absent otherwise (the review is
   * then answered without the memo).
   */
  readonly uid?: { readonly start: number; readonly end: number };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

function keyIs(bytes: Uint8Array, start: number, end: number, word: string): boolean {
  // start and end bound the key's characters (quotes excluded).
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (bytes[start + i] !== word.charCodeAt(i)) return false;
  return true;
}

/** Scan JSON bytes. Malformed JSON scans to some answer; JSON.parse refuses it afterwards. */
export function scanBody(bytes: Uint8Array): BodyScan {
  // isObject[d] for each open container at depth d (1-based).
  const isObject: boolean[] = [false];
  let depth = 0;
  let maxDepth = 0;
  let expectKey = false;
  /** The key just read at depth 1 was "request", or at depth 2 inside the request was "uid". */
  let pending: 'request' | 'uid' | '' = '';
  let requests = 0;
  let inRequest = false;
  let uids = 0;
  let escapedKey = false;
  let uidStart = -1;
  let uidEnd = -1;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) {
      const start = i + 1;
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
        if (depth === 1 && keyIs(bytes, start, i, 'request')) pending = 'request';
        else if (depth === 2 && inRequest && keyIs(bytes, start, i, 'uid')) pending = 'uid';
        else pending = '';
      } else if (pending === 'uid') {
        uids++;
        uidStart = start - 1;
        uidEnd = i + 1;
        pending = '';
      }
    } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      const object = b === OPEN_OBJECT;
      if (depth === 1 && pending === 'request' && object) {
        requests++;
        inRequest = true;
      }
      pending = '';
      depth++;
      if (depth > maxDepth) {
        maxDepth = depth;
        if (depth > MAX_DEPTH) return { depth };
      }
      isObject[depth] = object;
      expectKey = object;
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      depth--;
      if (depth === 1) inRequest = false;
      expectKey = false;
      pending = '';
    } else if (b === COMMA) {
      expectKey = isObject[depth] === true;
      pending = '';
    }
  }
  const plain = requests === 1 && uids === 1 && !escapedKey;
  return plain ? { depth: maxDepth, uid: { start: uidStart, end: uidEnd } } : { depth: maxDepth };
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
