/**
 * Fluentd config as data, and the one function that writes it.
 *
 * HOW FLUENTD READS A VALUE (fluent/fluentd lib/fluent/config/v1_parser.rb, literal_parser.rb,
 * basic_parser.rb, as shipped in 1.19):
 *  - `"..."` double quotes: backslash escapes are decoded (`\n` becomes a newline, `\q` is an
 *    error) and every `#{...}` is RUBY CODE, evaluated while the file is read. A raw line break
 *    inside the quotes continues the string on the next line.
 *  - `'...'` single quotes: nothing is evaluated. `\'` is a quote, `\\` a backslash, every other
 *    character (`#{`, `${`, `"`, `<`, `>`, a lone `\`) is itself. The string ends at the first
 *    unescaped `'`; a line break inside it is a parse error; after it only white space or a
 *    comment may follow on the line.
 *  - unquoted: the value runs to the end of the line; trailing blanks are dropped and `#` starts a
 *    comment when white space precedes it. `#{` is not evaluated. But a value whose first
 *    character is `[` or `{` is read as JSON and may span lines, one starting with `"` or `'` is a
 *    quoted string, and `/.../` is only a convention of the plugins (a regexp parameter), not of
 *    the reader.
 *  - `@include path` (and, at the top level, plain `include path`) is recognised where a
 *    parameter NAME stands; `<name arg>` / `</name>` where a line starts. A section argument ends
 *    at `>`; a parameter name at white space.
 *  - Plugins expand more after that: record_transformer replaces `${...}` in its `<record>` values;
 *    in_tail runs `path` through strftime (`%`); match patterns treat `* ** { } , \` and a
 *    trailing `.` specially.
 *
 * WHY NOTHING CAN BE INJECTED: every value is written in exactly one of four forms, and none of
 * them can end early or evaluate anything:
 *  1. a bare token from [A-Za-z0-9_./:@%+=,-] (plus `* ? [ ]` after the first character): no
 *     white space, quote, `#`, `$`, `{`, `<` or backslash, so it can only be one literal;
 *  2. otherwise a single-quoted string: `'` written as `\'`, a backslash doubled when a backslash,
 *     a quote or the closing quote follows it (any other backslash the reader keeps as it is), after
 *     assertConfigSafe refused control characters (line breaks above all): the reader gives back
 *     exactly the original text and evaluates nothing;
 *  3. a JSON object built here whose strings carry every character outside [A-Za-z0-9 _./:@%+=,-]
 *     as a \uXXXX escape: no `#` (Fluentd's comment probe), quote, brace or line break occurs
 *     inside a string, so the object closes at its last `}` and nowhere before;
 *  4. `"#{ENV['NAME']}"` from {@link envRef}, the ONLY double quotes and the only Ruby ever
 *     written, for a NAME matching [A-Z_][A-Z0-9_]* (checked when written, not only when built).
 * Parameter and section names come from this code and are checked against fixed patterns
 * (`include`/`@include` can never be one); section arguments are tag-like tokens without space,
 * `>` or anything a match pattern treats specially. Values that record_transformer expands are
 * additionally refused when they contain `${`.
 */
import { VALUE, assertConfigSafe, isToken, scanConfigValue, unsafeReason } from '../common.js';

/** `"#{ENV['NAME']}"`: Fluentd substitutes the env var while reading the file. */
export interface EnvRef {
  readonly env: string;
}

/** A flat JSON object of strings (Fluentd's `hash` parameter type). */
export interface JsonHash {
  readonly json: Readonly<Record<string, string>>;
}

export type ConfValue = string | EnvRef | JsonHash;
export type Param = readonly [key: string, value: ConfValue];

/** One `<name arg>` section: its parameters first, then its subsections. */
export interface Directive {
  readonly name: string;
  readonly arg?: string;
  readonly params: readonly Param[];
  readonly children?: readonly Directive[];
}

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
/** Reserved `@` parameters the v1 parser accepts in every section. */
const AT_PARAMS = new Set(['@type', '@id', '@label', '@log_level']);
const isLower = (c: number) => c >= 0x61 && c <= 0x7a;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isAlnum_ = (c: number) => isLower(c) || (c >= 0x41 && c <= 0x5a) || isDigit(c) || c === 0x5f;
/** Section and parameter names: [a-z][a-z0-9_]* */
const isName = (s: string) => isToken(s, isLower, (c) => isLower(c) || isDigit(c) || c === 0x5f);
/** Section arguments: tags, tag patterns without wildcards, chunk-key lists: [A-Za-z0-9_][A-Za-z0-9_.:@%+=,/-]* */
const isArg = (s: string) =>
  isToken(s, isAlnum_, (c) => isAlnum_(c) || c === 0x2e || c === 0x3a || c === 0x40 || c === 0x25 || c === 0x2b || c === 0x3d || c === 0x2c || c === 0x2f || c === 0x2d);
/** Characters a JSON string here carries as themselves: [A-Za-z0-9 _./:@%+=,-]; every other is a \uXXXX escape. */
const isJsonSafe = (c: number) => isAlnum_(c) || c === 0x20 || (c >= 0x2c && c <= 0x2f) || c === 0x3a || c === 0x40 || c === 0x25 || c === 0x2b || c === 0x3d;

/** Whether `arg` can be written as a section argument (a tag or a match pattern without wildcards). */
export const isSafeArg = (arg: string) => isArg(arg) && !arg.endsWith('.');

export function envRef(name: string): EnvRef {
  if (!ENV_NAME.test(name)) throw new Error(`refusing to reference env var ${JSON.stringify(name)}`);
  return { env: name };
}

export function jsonHash(entries: Readonly<Record<string, string>>): JsonHash {
  return { json: entries };
}

export const isEnvRef = (v: ConfValue): v is EnvRef => typeof v === 'object' && 'env' in v;
export const isJsonHash = (v: ConfValue): v is JsonHash => typeof v === 'object' && 'json' in v;

/** A value written so Fluentd reads back exactly `value` (forms 1 and 2 above). */
export function quoteString(value: string, what: string): string {
  const flags = scanConfigValue(value);
  const unsafe = unsafeReason(flags);
  if (unsafe !== undefined) throw new Error(`refusing to render ${what}: ${unsafe}`);
  return quoteSafe(value, flags);
}

/** {@link quoteString} for a value whose scan `flags` showed it safe. */
function quoteSafe(value: string, flags: number): string {
  if (!(flags & VALUE.notBare)) return value;
  if (!(flags & VALUE.quoteOrBackslash)) return `'${value}'`;
  let out = "'";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    const next = value[i + 1];
    if (c === "'") out += "\\'";
    // The reader turns `\\` into `\` and `\'` into `'` and keeps any other backslash as it is.
    else if (c === '\\' && (next === undefined || next === '\\' || next === "'")) out += '\\\\';
    else out += c;
  }
  return `${out}'`;
}

function jsonString(s: string, what: string): string {
  assertConfigSafe(s, what);
  let out = '"';
  // Code units, not code points: a character outside the BMP is written as its two escaped halves.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += isJsonSafe(c) ? s[i] : `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

function formatValue(value: ConfValue, what: string): string {
  if (typeof value === 'string') return quoteString(value, what);
  if (isEnvRef(value)) {
    if (!ENV_NAME.test(value.env)) throw new Error(`refusing to render ${what}: env var name ${JSON.stringify(value.env)}`);
    return `"#{ENV['${value.env}']}"`;
  }
  const entries = Object.entries(value.json);
  if (entries.length === 0) throw new Error(`refusing to render ${what}: empty hash`);
  return `{${entries.map(([k, v]) => `${jsonString(k, `${what} key`)}:${jsonString(v, `${what} value`)}`).join(',')}}`;
}

/** Sections whose values a plugin expands again (`${...}` placeholders of record_transformer). */
const PLACEHOLDER_SECTIONS = new Set(['record']);

function writeDirective(d: Directive, depth: number, lines: string[]): void {
  if (!isName(d.name)) throw new Error(`refusing to render section name ${JSON.stringify(d.name)}`);
  if (d.arg !== undefined && !isSafeArg(d.arg)) {
    throw new Error(`refusing to render <${d.name}> argument ${JSON.stringify(d.arg)}`);
  }
  const pad = '  '.repeat(depth);
  lines.push(`${pad}<${d.name}${d.arg ? ` ${d.arg}` : ''}>`);
  let width = 0;
  for (const [k] of d.params) width = Math.max(width, k.length);
  for (const [key, value] of d.params) {
    if (!(isName(key) || AT_PARAMS.has(key)) || key === 'include') {
      throw new Error(`refusing to render parameter name ${JSON.stringify(key)} in <${d.name}>`);
    }
    let text: string;
    if (typeof value === 'string') {
      // One pass over the value for every check; the field name is only spelled out to refuse.
      const flags = scanConfigValue(value);
      if (PLACEHOLDER_SECTIONS.has(d.name) && flags & VALUE.dollarBrace) throw new Error(`refusing to render <${d.name}> ${key}: \${ would be expanded by the plugin`);
      const unsafe = unsafeReason(flags);
      if (unsafe !== undefined) throw new Error(`refusing to render <${d.name}> ${key}: ${unsafe}`);
      text = quoteSafe(value, flags);
    } else {
      text = formatValue(value, `<${d.name}> ${key}`);
    }
    lines.push(`${pad}  ${key.padEnd(width)} ${text}`);
  }
  for (const child of d.children ?? []) writeDirective(child, depth + 1, lines);
  lines.push(`${pad}</${d.name}>`);
}

/** Serialize directives in Fluentd's v1 syntax, refusing any unsafe name, argument or value. */
export function serializeFluentd(directives: readonly Directive[], header: string): string {
  assertConfigSafe(header, 'header');
  const lines = [`# ${header}`];
  for (const d of directives) {
    lines.push('');
    writeDirective(d, 0, lines);
  }
  return `${lines.join('\n')}\n`;
}
