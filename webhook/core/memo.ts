/**
 * Remembering, bounded by the memory it holds, and only what repeats.
 *
 * - `ByteLru`: entries whose sizes add up to at most `maxBytes`, the least recently used dropped
 *   first; an entry larger than `maxEntryBytes` is never kept. Counting entries is not enough: 256
 *   answers of 60 KB each are 15 MB. Recency is kept the CLOCK way (second chance): a hit only
 *   marks its entry, and an eviction moves marked entries to the back instead of dropping them,
 *   so a hit changes no Map (a delete and a set on every hit were 5 % of a distinct review).
 * - `Sightings`: a small doorkeeper of (short) keys seen once. A value is admitted to the memo only on
 *   its key's second sighting, so a stream of distinct inputs (every pod different) keeps
 *   nothing alive but short keys, and never promotes answers into the old generation.
 * - `memoKey`: long texts are keyed by their SHA-256 (V8 hashes strings longer than 16,383
 *   characters by their length alone, so equal-length keys would collide in a Map).
 *
 * Pure computation (no I/O, no clock); callers must treat remembered values as read-only.
 */
import crypto from 'node:crypto';

/**
 * V8 hashes a string's characters up to this length, and only its length beyond: longer strings
 * of one length all collide as Map keys, so they are keyed by their digest instead.
 */
export const MAX_HASHED_STRING = 16_383;
/** Keys up to this length are held by the doorkeeper as they are; longer ones as their digest. */
const SHORT_KEY = 64;

/** A remembered value, its counted size, and whether it was read since it last moved. */
interface LruEntry<V> {
  readonly value: V;
  readonly bytes: number;
  used: boolean;
}

export class ByteLru<V> {
  private readonly entries = new Map<string, LruEntry<V>>();
  private held = 0;

  constructor(
    readonly maxBytes: number,
    readonly maxEntryBytes: number = Math.floor(maxBytes / 8),
  ) {}

  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) return undefined;
    hit.used = true;
    return hit.value;
  }

  /** Keep `value` as `bytes` bytes (the caller's estimate); returns whether it was kept. */
  set(key: string, value: V, bytes: number): boolean {
    const size = bytes + 2 * key.length + 64;
    if (size > this.maxEntryBytes) return false;
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.held -= old.bytes;
    }
    this.entries.set(key, { value, bytes: size, used: false });
    this.held += size;
    // Oldest first: a marked entry (and the one just set) goes to the back unmarked, the first
    // unmarked one is dropped. Each move unmarks, so this ends within two rounds of the entries.
    while (this.held > this.maxBytes && this.entries.size > 1) {
      const [k, e] = this.entries.entries().next().value as [string, LruEntry<V>];
      this.entries.delete(k);
      if (e.used || k === key) {
        e.used = false;
        this.entries.set(k, e);
      } else {
        this.held -= e.bytes;
      }
    }
    return true;
  }

  clear(): void {
    this.entries.clear();
    this.held = 0;
  }
}

/**
 * Keys seen recently, at most `capacity` of them (oldest forgotten first). A key longer than 64
 * characters is held as its digest: 2,048 of them are ~200 KB whatever the keys.
 */
export class Sightings {
  private readonly seen = new Set<string>();

  constructor(readonly capacity = 2048) {}

  /** Whether `key` was seen before; records this sighting. */
  sight(whole: string): boolean {
    const key = whole.length > SHORT_KEY ? digest(whole) : whole;
    if (this.seen.has(key)) return true;
    this.seen.add(key);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value as string);
    return false;
  }
}

/** Texts up to this length are their own key; longer ones are keyed by their SHA-256. */
const PLAIN_KEY_CHARS = 1024;

/** SHA-256 of a text or bytes, as a 44-character key (in one call where Node.js has `crypto.hash`, 20.12 and later). */
export const digest: (data: string | Buffer) => string =
  typeof crypto.hash === 'function' ? (data) => crypto.hash('sha256', data, 'base64') : (data) => crypto.createHash('sha256').update(data).digest('base64');

export function memoKey(text: string): string {
  return text.length <= PLAIN_KEY_CHARS ? text : `#${digest(text)}`;
}

export interface MemoOptions {
  readonly maxBytes: number;
  /** The memory a result is estimated to hold, from its input text. */
  readonly sizeOf: (text: string) => number;
}

/**
 * Memoize a pure function of a string, admitting a result on the second sighting of its text.
 * Default bound: 2 MiB, a result counted as four times its text (a parsed annotation holds its
 * strings once more, plus objects) and 512 bytes.
 */
export function memoize<T>(fn: (text: string) => T, opts: MemoOptions = { maxBytes: 2 * 1024 * 1024, sizeOf: (t) => 4 * t.length + 512 }): (text: string) => T {
  const memo = new ByteLru<T>(opts.maxBytes);
  const sightings = new Sightings();
  return (text: string) => {
    const key = memoKey(text);
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    const value = fn(text);
    if (sightings.sight(key)) memo.set(key, value, opts.sizeOf(text));
    return value;
  };
}
