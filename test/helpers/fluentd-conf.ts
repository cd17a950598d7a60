/**
 * A reader for Fluentd's v1 config syntax: a line-for-line port of lib/fluent/config/v1_parser.rb,
 * literal_parser.rb and basic_parser.rb (fluent/fluentd), so tests see a generated file exactly as
 * Fluentd does. Ruby's StringScanner becomes {@link Scanner}; Ruby's `.` (any character but '\n')
 * becomes `[^\n]`, `\z` becomes `$` (no `m` flag: end of input).
 *
 * Two things are reported rather than performed:
 *  - `#{...}` inside a double-quoted string is Ruby code Fluentd EVALUATES while reading the file
 *    (V1Parser.parse gets Kernel.binding). The code is listed in `rubyEmbedded` and the decoded
 *    value keeps the literal `#{code}` text in its place.
 *  - `@include` (and, at top level, the deprecated `include`) reads more config from a path, glob
 *    or URL. It becomes a child element named '@include' whose `arg` is the target.
 *
 * Ruby-specific approximations: the end of embedded code is found with a brace matcher that knows
 * Ruby quotes and comments (Fluentd uses Ruby's lexer); JSON values are checked with JavaScript's
 * JSON.parse after removing comments, which Ruby's JSON parser skips, and `value` holds
 * JSON.stringify of the result (Ruby's JSON.dump; floats such as 1.0 print differently).
 */

/** How a parameter value was written. */
export type FluentdQuoting = 'none' | 'single' | 'double' | 'json';

/** One `key value` line. */
export interface FluentdParam {
  key: string;
  /** The value as Fluentd hands it to the plugin (embedded Ruby left as literal `#{code}`). */
  value: string;
  /** The value's source text, quotes and all. */
  raw: string;
  quoting: FluentdQuoting;
  /** The code of every `#{...}` in the double-quoted key or value: Fluentd evaluates it as Ruby. */
  rubyEmbedded: string[];
  line: number;
}

/** A `<name arg>...</name>` section; the top level is name 'ROOT'; an include is name '@include'. */
export interface FluentdElement {
  name: string;
  arg: string;
  params: FluentdParam[];
  children: FluentdElement[];
  line: number;
}

// basic_parser.rb
const LINE_END = String.raw`(?:[ \t]*(?:#[^\n]*)?(?:$|[\r\n]))+`;
const SPACING = String.raw`(?:[ \t\r\n]|$|#[^\n]*?(?:$|[\r\n]))+`;
const ZERO_OR_MORE_SPACING = String.raw`(?:[ \t\r\n]|$|#[^\n]*?(?:$|[\r\n]))*`;
const SPACING_WITHOUT_COMMENT = String.raw`(?:[ \t\r\n]|$)+`;
const LINE_END_WITHOUT_SPACING_AND_COMMENT = String.raw`(?:$|[\r\n])`;
// v1_parser.rb
const ELEMENT_NAME = '[a-zA-Z0-9_]+';
const ELEM_SYMBOLS = ['match', 'source', 'filter', 'system'];
const RESERVED_PARAMS = ['@type', '@id', '@label', '@log_level'];

const re = (source: string): RegExp => new RegExp(source, 'yu');
const R = {
  lineEnd: re(LINE_END),
  spacing: re(SPACING),
  spacingWithoutComment: re(SPACING_WITHOUT_COMMENT),
  elementName: re(ELEMENT_NAME),
  endTagOpen: re('</'),
  tagOpen: re('<'),
  tagClose: re('>'),
  include: re(String.raw`(?:@include|include)${SPACING}`),
  dquote: re('"'),
  squote: re("'"),
  hash: re('#'),
  embedOpen: re(String.raw`#\{`),
  braceClose: re(String.raw`\}`),
  escape: re(String.raw`\\[^\n]`),
  escapedSquote: re(String.raw`\\'`),
  escapedBackslash: re(String.raw`\\\\`),
  anyChar: re(String.raw`[^\n]`),
  charBeforeLineEnd: re(`[^"]${LINE_END_WITHOUT_SPACING_AND_COMMENT}`),
  nonBackslashBeforeLineEnd: re(String.raw`[^\\]${LINE_END_WITHOUT_SPACING_AND_COMMENT}`),
  arrayOpen: re(String.raw`\[`),
  hashOpen: re(String.raw`\{`),
  argBoundary: `(?:${ZERO_OR_MORE_SPACING}>)`,
};

/** Per boundary: one character of a nonquoted string (`/(?!boundary)./`). */
const NONQUOTED_CHAR = new Map<string, RegExp>();

/** Ruby's StringScanner, over sticky regular expressions. */
class Scanner {
  pos = 0;
  /** The text of the last successful match (Ruby's `@ss[0]`), or null after a failed one. */
  last: string | null = null;
  private readonly lineStarts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.lineStarts.push(i + 1);
  }

  private match(pattern: RegExp): string | null {
    pattern.lastIndex = this.pos;
    const m = pattern.exec(this.text);
    this.last = m ? m[0] : null;
    return this.last;
  }

  /** Match at the cursor and advance; the match length (0 is a success), or null. */
  skip(pattern: RegExp): number | null {
    const m = this.match(pattern);
    if (m === null) return null;
    this.pos += m.length;
    return m.length;
  }

  /** Match at the cursor and advance; the matched text, or null. */
  scan(pattern: RegExp): string | null {
    const m = this.match(pattern);
    if (m !== null) this.pos += m.length;
    return m;
  }

  /** Match at the cursor without advancing. */
  check(pattern: RegExp): string | null {
    return this.match(pattern);
  }

  /** The next character (a whole code point), or null at the end. */
  getch(): string | null {
    const cp = this.text.codePointAt(this.pos);
    if (cp === undefined) return null;
    const ch = String.fromCodePoint(cp);
    this.pos += ch.length;
    return ch;
  }

  eos(): boolean {
    return this.pos >= this.text.length;
  }

  lineAt(pos = this.pos): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

/** Ruby's JSON.parse as Fluentd uses it: undefined when the text is not (yet) complete JSON. */
function rubyJsonParse(text: string): unknown {
  // Ruby's JSON parser skips /* */ and // comments between tokens; JavaScript's does not.
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) return undefined;
      i = end + 1;
      out += ' ';
    } else {
      out += c;
    }
  }
  try {
    return JSON.parse(out);
  } catch {
    return undefined;
  }
}

class V1Parser {
  private readonly ss: Scanner;

  constructor(text: string) {
    this.ss = new Scanner(text);
  }

  private error(message: string, pos = this.ss.pos): never {
    throw new Error(`fluentd config line ${this.ss.lineAt(pos)}: ${message}`);
  }

  parse(): FluentdElement {
    const root: FluentdElement = { name: 'ROOT', arg: '', params: [], children: [], line: 1 };
    this.parseElement(true, null, root);
    this.ss.skip(R.spacing);
    if (!this.ss.eos()) this.error('expected EOF');
    return root;
  }

  private lineEnd(): boolean {
    return this.ss.skip(R.lineEnd) !== null;
  }

  private parseElement(rootElement: boolean, elemName: string | null, el: FluentdElement): void {
    const ss = this.ss;
    for (;;) {
      ss.skip(R.spacing);
      if (ss.eos()) {
        if (rootElement) break;
        this.error(`expected end tag '</${elemName}>' but got end of file (opened at line ${el.line})`);
      }
      const at = ss.pos;

      if (ss.skip(R.endTagOpen) !== null) {
        const name = ss.scan(R.elementName);
        ss.skip(R.spacing);
        if (ss.skip(R.tagClose) === null) this.error('expected character in tag name');
        if (!this.lineEnd()) this.error('expected end of line after end tag');
        if (name === null || name !== elemName) {
          this.error(`unmatched end tag '</${name ?? ''}>'${elemName === null ? '' : ` (open: <${elemName}> at line ${el.line})`}`, at);
        }
        break;
      } else if (ss.skip(R.tagOpen) !== null) {
        const name = ss.scan(R.elementName);
        if (name === null) this.error('expected an element name after <', at);
        ss.skip(R.spacing);
        const arg = this.scanNonquotedString(R.argBoundary) ?? '';
        ss.skip(R.spacing);
        if (ss.skip(R.tagClose) === null) this.error("expected '>'");
        if (!this.lineEnd()) this.error('expected end of line after tag');
        const child: FluentdElement = { name, arg, params: [], children: [], line: ss.lineAt(at) };
        this.parseElement(false, name, child);
        el.children.push(child);
      } else if (rootElement && ss.skip(R.include) !== null) {
        this.parseInclude(el, at);
      } else {
        const embedded: string[] = [];
        const key = this.scanString(SPACING, embedded).value;
        if (key === null) this.error('expected a parameter name', at);
        if (ss.skip(R.spacingWithoutComment) === null) this.error(`unexpected text after the parameter name ${JSON.stringify(key)}`);
        if (ss.last!.includes('\n') || ss.eos()) {
          // "k" alone: a parameter with an empty value (tag_mapped style).
          el.params.push({ key, value: '', raw: '', quoting: 'none', rubyEmbedded: embedded, line: ss.lineAt(at) });
        } else if (key === '@include') {
          this.parseInclude(el, at);
        } else {
          if (!RESERVED_PARAMS.includes(key) && key.startsWith('@') && (rootElement || ELEM_SYMBOLS.includes(elemName!))) {
            this.error(`'@' is the system reserved prefix. Don't use '@' prefix parameter in the configuration: ${key}`, at);
          }
          const value = this.parseLiteral(embedded);
          if (!this.lineEnd()) this.error('expected end of line');
          el.params.push({ key, ...value, rubyEmbedded: embedded, line: ss.lineAt(at) });
        }
      }
    }
  }

  private parseInclude(el: FluentdElement, at: number): void {
    const target = this.scanString(LINE_END, []).value ?? '';
    el.children.push({ name: '@include', arg: target, params: [], children: [], line: this.ss.lineAt(at) });
    this.lineEnd();
  }

  private parseLiteral(embedded: string[]): { value: string; raw: string; quoting: FluentdQuoting } {
    const ss = this.ss;
    ss.skip(R.spacingWithoutComment);
    const start = ss.pos;
    if (ss.skip(R.arrayOpen) !== null) {
      const value = this.scanJson(true);
      return { value, raw: ss.text.slice(start, ss.pos), quoting: 'json' };
    }
    if (ss.skip(R.hashOpen) !== null) {
      const value = this.scanJson(false);
      return { value, raw: ss.text.slice(start, ss.pos), quoting: 'json' };
    }
    const { value, quoting } = this.scanString(LINE_END, embedded);
    if (value === null) this.error('expected a value');
    return { value, raw: ss.text.slice(start, ss.pos), quoting };
  }

  private scanString(boundary: string, embedded: string[]): { value: string | null; quoting: FluentdQuoting } {
    if (this.ss.skip(R.dquote) !== null) return { value: this.scanDoubleQuotedString(embedded), quoting: 'double' };
    if (this.ss.skip(R.squote) !== null) return { value: this.scanSingleQuotedString(), quoting: 'single' };
    return { value: this.scanNonquotedString(boundary), quoting: 'none' };
  }

  private scanDoubleQuotedString(embedded: string[]): string {
    const ss = this.ss;
    const start = ss.pos - 1;
    let out = '';
    for (;;) {
      let s: string | null;
      if (ss.skip(R.dquote) !== null) {
        return out;
      } else if (ss.check(R.charBeforeLineEnd) !== null) {
        // A character right before a line break: kept with the break, unless it is a backslash
        // (then both go: a line continuation).
        const kept = ss.check(R.nonBackslashBeforeLineEnd);
        if (kept !== null) out += kept;
        ss.skip(R.charBeforeLineEnd);
      } else if ((s = ss.scan(R.escape)) !== null) {
        out += this.evalEscapeChar(s.slice(1));
      } else if (ss.skip(R.embedOpen) !== null) {
        const code = this.scanEmbeddedCode();
        embedded.push(code);
        out += `#{${code}}`;
        ss.skip(R.braceClose);
      } else if ((s = ss.scan(R.anyChar)) !== null) {
        out += s;
      } else {
        this.error(`unexpected end of file in a double quoted string (opened at line ${ss.lineAt(start)})`);
      }
    }
  }

  private scanSingleQuotedString(): string {
    const ss = this.ss;
    const start = ss.pos - 1;
    let out = '';
    for (;;) {
      let s: string | null;
      if (ss.skip(R.squote) !== null) return out;
      if (ss.skip(R.escapedSquote) !== null) out += "'";
      else if (ss.skip(R.escapedBackslash) !== null) out += '\\';
      else if ((s = ss.scan(R.anyChar)) !== null) out += s;
      else this.error(`unexpected end of file in a single quoted string (opened at line ${ss.lineAt(start)})`);
    }
  }

  private scanNonquotedString(boundary: string): string | null {
    let charset = NONQUOTED_CHAR.get(boundary);
    if (!charset) NONQUOTED_CHAR.set(boundary, (charset = re(`(?!${boundary})[^\\n]`)));
    let out = '';
    for (;;) {
      let s: string | null;
      if (this.ss.skip(R.hash) !== null) out += '#';
      else if ((s = this.ss.scan(charset)) !== null) out += s;
      else break;
    }
    return out === '' ? null : out;
  }

  /** From just after `#{`: the code up to its closing `}` (left unconsumed), as Ruby would lex it. */
  private scanEmbeddedCode(): string {
    const { text } = this.ss;
    const start = this.ss.pos;
    const end = rubyCodeEnd(text, start);
    if (end < 0) this.error('expected end of embedded code but $end', start);
    this.ss.pos = end;
    return text.slice(start, end);
  }

  private evalEscapeChar(c: string): string {
    switch (c) {
      case '"': return '"';
      case "'": return "'";
      case 'r': return '\r';
      case 'n': return '\n';
      case 't': return '\t';
      case 'f': return '\f';
      case 'b': return '\b';
      case '0': return '\0';
      default:
        if (/^[a-zA-Z0-9]$/.test(c)) this.error(`unexpected back-slash escape character '${c}'`);
        return c;
    }
  }

  private scanJson(isArray: boolean): string {
    const ss = this.ss;
    const start = ss.pos - 1;
    const closer = isArray ? ']' : '}';
    let buffer = isArray ? '[' : '{';
    let lineBuffer = '';
    let result: unknown;
    while (result === undefined) {
      const ch = ss.getch();
      if (ch === null) break;
      if (ch === '#') {
        // Outside a JSON string (what came before parses once closed), '#' starts a comment.
        const closed = rubyJsonParse(buffer + lineBuffer.replace(/[ \t\n\v\f\r\0]+$/, '').replace(/,$/, '') + closer);
        if (closed !== undefined) {
          for (;;) {
            const c = ss.getch();
            // Fluentd loops forever here; say so instead.
            if (c === null) this.error('comment at end of file inside a JSON value (Fluentd hangs on this)', start);
            if (c === '\n') break;
          }
          buffer += `${lineBuffer}\n`;
          lineBuffer = '';
        } else {
          lineBuffer += ch;
        }
        continue;
      }
      if (ch === '\n') {
        buffer += `${lineBuffer}\n`;
        lineBuffer = '';
        continue;
      }
      lineBuffer += ch;
      result = rubyJsonParse(buffer + lineBuffer);
    }
    if (result === undefined) this.error(`got incomplete JSON ${isArray ? 'array' : 'hash'} configuration`, start);
    return JSON.stringify(result);
  }
}

/**
 * Index of the `}` closing Ruby code that starts at `from` (just after `#{`), or -1. Knows nested
 * braces, quoted strings (with their own `#{...}`) and `#` comments; not heredocs, %-literals or
 * regexps, which never belong in generated config anyway.
 */
function rubyCodeEnd(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text[i]!;
    if (c === '}') {
      if (depth === 0) return i;
      depth--;
    } else if (c === '{') {
      depth++;
    } else if (c === '#') {
      const nl = text.indexOf('\n', i);
      if (nl < 0) return -1;
      i = nl;
    } else if (c === '"' || c === "'" || c === '`') {
      i = rubyStringEnd(text, i);
      if (i < 0) return -1;
    }
  }
  return -1;
}

/** Index of the quote closing the Ruby string literal opened at `open`, or -1. */
function rubyStringEnd(text: string, open: number): number {
  const q = text[open]!;
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') i++;
    else if (c === q) return i;
    else if (q !== "'" && c === '#' && text[i + 1] === '{') {
      const end = rubyCodeEnd(text, i + 2);
      if (end < 0) return -1;
      i = end;
    }
  }
  return -1;
}

/** Parse Fluentd v1 config text; throws `Error("fluentd config line N: ...")` where Fluentd would fail. */
export function parseFluentdConf(text: string): FluentdElement {
  return new V1Parser(text).parse();
}

/** Every element named `name` below `el` (children, grandchildren, ...), in document order. */
export function find(el: FluentdElement, name: string): FluentdElement[] {
  const found: FluentdElement[] = [];
  const walk = (e: FluentdElement): void => {
    for (const c of e.children) {
      if (c.name === name) found.push(c);
      walk(c);
    }
  };
  walk(el);
  return found;
}

/** The value Fluentd uses for `key` in `el` (the last occurrence wins), or undefined. */
export function param(el: FluentdElement, key: string): string | undefined {
  const all = params(el, key);
  return all[all.length - 1]?.value;
}

/** Every occurrence of `key` in `el`, in file order. */
export function params(el: FluentdElement, key: string): FluentdParam[] {
  return el.params.filter((p) => p.key === key);
}

/** All embedded Ruby code anywhere in the tree (empty for a config Fluentd reads without evaluating code). */
export function rubyCode(el: FluentdElement): string[] {
  return [...el.params.flatMap((p) => p.rubyEmbedded), ...el.children.flatMap(rubyCode)];
}
