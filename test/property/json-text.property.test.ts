/**
 * isJsonText (webhook/review-bytes.ts) reads a short cut value's bytes as JSON without building it:
 * it must take exactly what `JSON.parse(bytes.toString('utf8'))` takes, on valid JSON of every
 * kind, on JSON broken anywhere, and on bytes that are not UTF-8.
 */
import fc from 'fast-check';
import { MAX_CHECKED_VALUE, isJsonText } from '../../webhook/review-bytes.js';

const parses = (bytes: Buffer): boolean => {
  try {
    JSON.parse(bytes.toString('utf8'));
    return true;
  } catch {
    return false;
  }
};

/** The bytes inside a larger buffer, as a cut value is: other bytes before and after it. */
function check(bytes: Buffer): void {
  const framed = Buffer.concat([Buffer.from('{"x":'), bytes, Buffer.from('}')]);
  expect([isJsonText(framed, 5, 5 + bytes.length), isJsonText(bytes, 0, bytes.length)]).toEqual([parses(bytes), parses(bytes)]);
}

/** Bytes JSON gives a meaning to, and some it does not. */
const interesting = fc.constantFrom(...'{}[]":,\\/ \t\r\n-+.0123456789eEtrufalsnbx'.split('').map((c) => c.charCodeAt(0)), 0x00, 0x1f, 0x7f, 0x80, 0xc3, 0xa9, 0xe2, 0xff);

describe('isJsonText takes what JSON.parse takes', () => {
  it('on JSON values of every kind, pretty or not', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined) ?? 'null';
        check(Buffer.from(text));
        check(Buffer.from(` \n${text}\t\r`));
      }),
      { numRuns: 2000 },
    );
  });

  it('on JSON changed anywhere: a byte taken out, put in or replaced', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.nat(), interesting, fc.constantFrom('delete', 'insert', 'replace'), (value, at, byte, edit) => {
        const bytes = Buffer.from(JSON.stringify(value) ?? 'null');
        const i = at % (bytes.length + 1);
        const edited =
          edit === 'delete' ? Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]) : edit === 'insert' ? Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]) : Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i + 1)]);
        check(edited);
      }),
      { numRuns: 5000 },
    );
  });

  it('on short runs of such bytes', () => {
    fc.assert(fc.property(fc.array(interesting, { maxLength: 12 }), (bytes) => check(Buffer.from(bytes))), { numRuns: 5000 });
  });

  it.each([
    ['"\\u00e9"', true],
    ['"\\u00g9"', false],
    ['"\\x"', false],
    ['"a\u0001"', false],
    ['-0', true],
    ['-', false],
    ['01', false],
    ['1.', false],
    ['1e+', false],
    ['1E-7', true],
    ['[1,]', false],
    ['{"a":1,}', false],
    ['{"a" 1}', false],
    ['{}', true],
    ['[ ]', true],
    ['tru', false],
    ['nulll', false],
    ['"\ud800"', true],
  ])('%s', (text, valid) => {
    check(Buffer.from(text));
    expect(isJsonText(Buffer.from(text), 0, Buffer.byteLength(text))).toBe(valid);
  });

  it('leaves longer values to JSON.parse', () => {
    const long = Buffer.from(JSON.stringify({ a: 'x'.repeat(MAX_CHECKED_VALUE) }));
    check(long);
    check(long.subarray(0, long.length - 1));
  });
});
