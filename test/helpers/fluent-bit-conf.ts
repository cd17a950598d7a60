/**
 * A reader for Fluent Bit's CLASSIC config format that mirrors src/config_format/flb_cf_fluentbit.c
 * (read_config) and flb_config_format.c, so tests see a generated file the way Fluent Bit does.
 *
 * The reader is STRICT: it accepts a subset of what Fluent Bit accepts, and everything it accepts
 * reads exactly as Fluent Bit reads it. Whatever Fluent Bit would reject, or would read as something
 * other than a plain `key value` entry of the current section, throws an Error naming the line.
 *
 * What Fluent Bit does, line by line (lines end at '\n'; one '\r' before it is dropped):
 *  - an empty line, or one whose FIRST character is '#', is skipped (no end-of-line comments);
 *  - `@INCLUDE <path>` (case-insensitive, column 0) reads another file; any other line starting
 *    with '@' is a meta command (`@SET KEY=VAL`);
 *  - a line starting with '[' is a section header: the name runs to the first ']' and anything
 *    after it is silently ignored; names match by case-insensitive PREFIX (`[IN]` is INPUT);
 *  - every other line is an entry. The indentation of the FIRST entry of the file becomes the
 *    file's indentation; later entries must use exactly it (a doubled indentation starts "group"
 *    content, an indented `[x]` a group). The key runs to the first SPACE (not tab), the value is
 *    the rest of the line, trimmed of isspace() characters; an empty value is an error. Keys are
 *    lower-cased; repeated keys are all kept.
 *  - `${NAME}` in a value is replaced by the variable (set by @SET, else the environment; an unset
 *    one becomes empty), scanning as flb_env_var_translate does.
 */

/** One `key value` line of a section. `key` is as written; Fluent Bit compares it lower-cased. */
export interface FluentBitEntry {
  key: string;
  value: string;
  line: number;
}

/** A `[NAME]` section with its entries in file order. */
export interface FluentBitSection {
  /** Upper-cased: SERVICE, INPUT, FILTER, OUTPUT, PARSER, MULTILINE_PARSER, ... */
  name: string;
  line: number;
  entries: FluentBitEntry[];
}

/** A column-0 command line. */
export interface FluentBitDirective {
  name: '@INCLUDE' | '@SET';
  /** Exactly what Fluent Bit uses: the path as written after `@INCLUDE `, or `KEY=VAL` trimmed. */
  arg: string;
  line: number;
}

/** A parsed classic-format file. */
export interface FluentBitConf {
  sections: FluentBitSection[];
  directives: FluentBitDirective[];
  /** Every variable name a value references as `${NAME}`, in first-seen order, without repeats. */
  envRefs: string[];
}

/** Section names Fluent Bit's classic reader knows (flb_config_format.c get_section_type and friends). */
const SECTION_NAMES = new Set([
  'SERVICE', 'INPUT', 'FILTER', 'OUTPUT', 'CUSTOM', 'PARSER', 'MULTILINE_PARSER',
  'PLUGINS', 'UPSTREAM', 'NODE', 'STREAM_TASK',
]);

/** A key Fluent Bit reads as the plain property name we see (no tab, '[', '@', '#' or other oddity). */
const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** C isspace() in the C locale: what flb_sds_trim removes from both ends of a value. */
const C_SPACE = ' \t\n\v\f\r';
const cTrim = (s: string): string => {
  let a = 0;
  let b = s.length;
  while (a < b && C_SPACE.includes(s[a]!)) a++;
  while (b > a && C_SPACE.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
};

/** Characters Fluent Bit would misread (NUL truncates the line) or that no generated file should hold. */
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F\uFEFF]/;

/**
 * The variable names Fluent Bit substitutes in `value`, found exactly as flb_env_var_translate does:
 * from position i it finds the next "${" and the next "}" (searched from i, not from the "${"); a
 * "}" before the "${", or "${}", stops all further substitution in the value.
 */
export function envRefsOf(value: string): string[] {
  const names: string[] = [];
  for (let i = 0; i < value.length; i++) {
    const start = value.indexOf('${', i);
    if (start < 0) break;
    const end = value.indexOf('}', i);
    if (end < 0) break;
    const len = end - (start + 2);
    if (len <= 0 || len >= 4096) break;
    names.push(value.slice(start + 2, end));
    i = end;
  }
  return names;
}

/** Parse a classic-format file; throws `Error("fluent-bit config line N: ...")` on anything suspicious. */
export function parseFluentBitConf(text: string): FluentBitConf {
  const conf: FluentBitConf = { sections: [], directives: [], envRefs: [] };
  const fail = (line: number, msg: string): never => {
    throw new Error(`fluent-bit config line ${line}: ${msg}`);
  };
  const rawLines = text.split('\n');
  // A final '\n' ends the last line; it does not start another one.
  if (rawLines.length > 1 && rawLines[rawLines.length - 1] === '') rawLines.pop();

  let indent: string | undefined;
  let section: FluentBitSection | undefined;

  rawLines.forEach((raw, index) => {
    const n = index + 1;
    const isLast = index === rawLines.length - 1 && !text.endsWith('\n');
    const line = !isLast && raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const bad = CONTROL.exec(line);
    if (bad) {
      fail(n, `control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()} (Fluent Bit truncates at NUL and keeps the rest verbatim)`);
    }
    if (line === '' || line[0] === '#') return;

    if (line.length > 9 && line.slice(0, 9).toUpperCase() === '@INCLUDE ') {
      conf.directives.push({ name: '@INCLUDE', arg: line.slice(9), line: n });
      return;
    }
    if (line[0] === '@') {
      const space = line.indexOf(' ');
      if (line.length <= 3 || space < 0) fail(n, `malformed command ${JSON.stringify(line)} (Fluent Bit rejects a command without an argument)`);
      const name = cTrim(line.slice(1, space)).toUpperCase();
      const arg = cTrim(line.slice(space + 1));
      if (name !== 'SET') fail(n, `unknown command @${name}`);
      if (!/^[^=\s]+=/.test(arg)) fail(n, `@SET needs KEY=VALUE, got ${JSON.stringify(arg)}`);
      conf.directives.push({ name: '@SET', arg, line: n });
      return;
    }
    if (line[0] === '[') {
      const end = line.indexOf(']');
      if (end < 0) fail(n, `bad section header ${JSON.stringify(line)}: no closing ']'`);
      const name = line.slice(1, end);
      if (cTrim(line.slice(end + 1)) !== '') {
        fail(n, `text after the section header ${JSON.stringify(line)} (Fluent Bit silently ignores it)`);
      }
      const upper = name.toUpperCase();
      if (!SECTION_NAMES.has(upper)) {
        fail(n, `unknown section [${name}] (Fluent Bit matches section names by prefix, so it may read it as another section)`);
      }
      section = { name: upper, line: n, entries: [] };
      conf.sections.push(section);
      return;
    }

    // An entry (or an indented comment / blank line).
    const lead = /^[ \t]*/.exec(line)![0];
    if (lead === '') fail(n, `entry ${JSON.stringify(line)} is not indented (Fluent Bit would take its first character as the indentation)`);
    if (indent === undefined) {
      if (lead === line) fail(n, 'whitespace-only line before the first entry (Fluent Bit would adopt it as the indentation)');
      indent = lead;
    } else if (lead !== indent) {
      fail(n, `inconsistent indentation ${JSON.stringify(lead)}: the file's entries are indented with ${JSON.stringify(indent)} (Fluent Bit rejects it or reads it as group content)`);
    }
    const rest = line.slice(indent.length);
    if (rest === '' || rest[0] === '#') return;
    if (!section) fail(n, `entry ${JSON.stringify(rest)} outside a section`);

    const space = rest.indexOf(' ');
    if (space < 0) fail(n, `key ${JSON.stringify(rest)} without a value`);
    const key = rest.slice(0, space);
    if (key[0] === '[') fail(n, `indented ${JSON.stringify(key)} starts a group, not an entry`);
    if (!KEY.test(key)) fail(n, `key ${JSON.stringify(key)} is not a plain property name`);
    const value = cTrim(rest.slice(space + 1));
    if (value === '') fail(n, `key ${key} without a value`);
    section!.entries.push({ key, value, line: n });
    for (const name of envRefsOf(value)) if (!conf.envRefs.includes(name)) conf.envRefs.push(name);
  });
  return conf;
}

/** All values of `key` in `section`, compared case-insensitively as Fluent Bit does, in file order. */
export function get(section: FluentBitSection, key: string): string[] {
  const k = key.toLowerCase();
  return section.entries.filter((e) => e.key.toLowerCase() === k).map((e) => e.value);
}

/** The one value of `key` in `section`; throws if it is missing or repeated. */
export function getOne(section: FluentBitSection, key: string): string {
  const values = get(section, key);
  if (values.length !== 1) {
    throw new Error(`[${section.name}] at line ${section.line}: expected one ${key}, found ${values.length}`);
  }
  return values[0]!;
}

/** The sections called `name` (case-insensitive), in file order. */
export function sectionsNamed(conf: FluentBitConf, name: string): FluentBitSection[] {
  const upper = name.toUpperCase();
  return conf.sections.filter((s) => s.name === upper);
}
