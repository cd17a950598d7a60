/**
 * The serializers check each value in one pass (sidecar-templates/common.ts scanConfigValue). The
 * regular expressions they used before are the oracle here: for any string (hostile ones, every
 * kind of white space, lone surrogates, `${...}` games), every flag is exactly what its regular
 * expression says, so the single pass refuses exactly what the regular expressions refused.
 */
import fc from 'fast-check';
import { VALUE, assertConfigSafe, scanConfigValue } from '../sidecar-templates/common.js';
import { type Section, serialize } from '../sidecar-templates/fluent-bit/index.js';
import { quoteString, serializeFluentd } from '../sidecar-templates/fluentd/index.js';

/** The checks as they were written before, one regular expression (or string method) each. */
const ORACLE: Record<keyof typeof VALUE, (v: string) => boolean> = {
  control: (v) => /[\u0000-\u001f\u007f\u2028\u2029]/.test(v),
  padded: (v) => v !== v.trim() || v === '',
  comma: (v) => v.includes(','),
  dollarBrace: (v) => v.includes('${'),
  strayEnvRef: (v) => v.replace(/\$\{SIDELOG_[A-Z0-9_]+\}/g, '').includes('${'),
  quoteOrBackslash: (v) => /['\\]/.test(v),
  notBare: (v) => !/^[A-Za-z0-9_./:@%+=,-][A-Za-z0-9_./:@%+=,*?[\]-]*$/.test(v),
};

const SPACES = ['\t', '\n', '\u000b', '\f', '\r', ' ', '\u0085', '\u00a0', '\u1680', '\u180e', '\u2000', '\u200a', '\u200b', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff'];
const PIECES = [
  ...SPACES, '$', '{', '}', '${', '${SIDELOG_', 'SIDELOG_', '${SIDELOG_A}', '${SIDELOG_}', '${SIDELOG__}', '${SIDELOG_a}', '$${SIDELOG_A}{', '${SIDELOG_A}{', '$', '\u0000', '\u001f', '\u007f',
  "'", '\\', ',', '*', '?', '[', ']', '-', 'a', 'Z', '0', '_', '.', '/', ':', '@', '%', '+', '=', '#', '"', '<', '>', '\ud800', '\udc00', '🙂', 'é',
];
const value = fc.oneof(
  fc.array(fc.constantFrom(...PIECES), { maxLength: 8 }).map((p) => p.join('')),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
);

describe('scanConfigValue', () => {
  it('raises each flag exactly when its regular expression matches', () => {
    fc.assert(
      fc.property(value, (v) => {
        const flags = scanConfigValue(v);
        const expected = Object.entries(ORACLE).filter(([, matches]) => matches(v)).map(([name]) => name);
        const got = Object.keys(ORACLE).filter((name) => flags & VALUE[name as keyof typeof VALUE]);
        if (got.join() !== expected.join()) expect({ value: v, flags: got }).toEqual({ value: v, flags: expected });
      }),
      { numRuns: 5000 },
    );
  });

  it.each(SPACES.map((s) => [s.charCodeAt(0).toString(16).padStart(4, '0'), s]))('sees U+%s at either end as padding exactly when trim() does', (_code, s) => {
    for (const v of [`${s}a`, `a${s}`, `a${s}a`]) expect((scanConfigValue(v) & VALUE.padded) !== 0).toBe(v !== v.trim());
  });

  it('refuses with the same messages as before', () => {
    expect(() => assertConfigSafe('a\nb', 'X')).toThrow('refusing to render X: control character');
    expect(() => assertConfigSafe(' a\n', 'X')).toThrow('refusing to render X: control character');
    expect(() => assertConfigSafe(' a', 'X')).toThrow('refusing to render X: empty or padded with white space');
    expect(() => assertConfigSafe('', 'X')).toThrow('empty or padded');
    expect(assertConfigSafe('a b', 'X')).toBe('a b');
  });
});

describe('the serializers after the single pass', () => {
  const fb = (key: string, v: string): Section[] => [{ name: 'INPUT', entries: [[key, v]] }];
  it('Fluent Bit refuses what it refused: control, padding, a comma in Path, ${ outside a SIDELOG reference, a bad key', () => {
    fc.assert(
      fc.property(value, fc.constantFrom('Path', 'Tag', 'Record'), (v, key) => {
        const refused = ORACLE.control(v) || ORACLE.padded(v) || (key === 'Path' && ORACLE.comma(v)) || ORACLE.strayEnvRef(v);
        if (refused) expect(() => serialize(fb(key, v), 'h')).toThrow(/^refusing to render/);
        else expect(serialize(fb(key, v), 'h')).toBe(`# h\n\n[INPUT]\n    ${key} ${v}\n`);
      }),
      { numRuns: 3000 },
    );
    // A reference removed can join a `$` and a `{` around it: still refused, as the regular expression did.
    expect(() => serialize(fb('Tag', '$${SIDELOG_A}{'), 'h')).toThrow('outside an env reference');
    expect(serialize(fb('Tag', 'a${SIDELOG_A}b${SIDELOG_B_2}'), 'h')).toContain('Tag a${SIDELOG_A}b${SIDELOG_B_2}');
    for (const key of ['', '1a', 'a b', 'a\n', 'Näme', 'a-b']) expect(() => serialize(fb(key, 'x'), 'h')).toThrow(/refusing to render key/);
    expect(serialize(fb('A_b.9', 'x'), 'h')).toContain('A_b.9 x');
  });

  it('Fluentd refuses what it refused: control, padding, ${ in a <record>, a bad name or argument', () => {
    fc.assert(
      fc.property(value, fc.constantFrom('record', 'source'), (v, section) => {
        const refused = ORACLE.control(v) || ORACLE.padded(v) || (section === 'record' && ORACLE.dollarBrace(v));
        const conf = () => serializeFluentd([{ name: section, params: [['k', v]] }], 'h');
        if (refused) expect(conf).toThrow(/^refusing to render/);
        else expect(conf()).toBe(`# h\n\n<${section}>\n  k ${quoteString(v, 'k')}\n</${section}>\n`);
        if (!refused) expect(quoteString(v, 'k') === v).toBe(!ORACLE.notBare(v));
      }),
      { numRuns: 3000 },
    );
    for (const name of ['', 'A', '1a', 'a-b', 'include', 'a b']) expect(() => serializeFluentd([{ name: 'source', params: [[name, 'x']] }], 'h')).toThrow(/refusing to render parameter name/);
    for (const name of ['', 'Source', 'a-b', 'a b']) expect(() => serializeFluentd([{ name, params: [] }], 'h')).toThrow(/refusing to render section name/);
    for (const arg of ['', 'a b', 'a>', 'a.', '*', '.a', 'a**', 'a{b}']) expect(() => serializeFluentd([{ name: 'match', arg, params: [] }], 'h')).toThrow(/argument/);
    expect(serializeFluentd([{ name: 'match', arg: 'sidelog.app-1,x/y:z@%+=', params: [['@type', 'stdout']] }], 'h')).toContain('<match sidelog.app-1,x/y:z@%+=>');
  });
});
