/**
 * Every value of a JSON text and its place, by a recursive-descent parser over the bytes: an oracle
 * for review-bytes.ts's one-pass scan, written the other way round (a tree of places, keys decoded
 * by JSON.parse, instead of a state machine on raw key bytes). Valid JSON only.
 */

export interface JsonPlace {
  /** Keys (decoded) and array indices from the root. */
  readonly path: ReadonlyArray<string | number>;
  /** Whether a key on the path was written with an escape (`"im\u0061ge"`). */
  readonly escaped: boolean;
  readonly kind: 'object' | 'array' | 'string' | 'scalar';
  /** Byte offsets of the value (a string's quotes included). */
  readonly start: number;
  readonly end: number;
}

export function jsonPlaces(bytes: Uint8Array): JsonPlace[] {
  const places: JsonPlace[] = [];
  let i = 0;
  const space = () => {
    while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  };
  const string = (): number => {
    const start = i++;
    while (bytes[i] !== 0x22) i += bytes[i] === 0x5c ? 2 : 1;
    i++;
    return start;
  };
  const value = (path: Array<string | number>, escaped: boolean): void => {
    space();
    const start = i;
    const b = bytes[i];
    if (b === 0x7b) {
      i++;
      space();
      if (bytes[i] === 0x7d) i++;
      else
        for (;;) {
          space();
          const keyStart = string();
          const raw = Buffer.from(bytes.subarray(keyStart, i)).toString('utf8');
          const key = JSON.parse(raw) as string;
          space();
          i++; // the colon
          value([...path, key], escaped || raw.includes('\\'));
          space();
          if (bytes[i++] === 0x7d) break;
        }
      places.push({ path, escaped, kind: 'object', start, end: i });
    } else if (b === 0x5b) {
      i++;
      space();
      if (bytes[i] === 0x5d) i++;
      else
        for (let n = 0; ; n++) {
          value([...path, n], escaped);
          space();
          if (bytes[i++] === 0x5d) break;
        }
      places.push({ path, escaped, kind: 'array', start, end: i });
    } else if (b === 0x22) {
      string();
      places.push({ path, escaped, kind: 'string', start, end: i });
    } else {
      while (i < bytes.length && !' \n\r\t,}]'.includes(String.fromCharCode(bytes[i]!))) i++;
      places.push({ path, escaped, kind: 'scalar', start, end: i });
    }
  };
  value([], false);
  return places.sort((a, b) => a.start - b.start);
}
