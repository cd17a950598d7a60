/**
 * Regular expressions, each checked or run by the engine that will really run it:
 *
 *  - Pod regexes (the `regex` parser's pattern) end up in an agent config and are compiled by
 *    Onigmo: Fluent Bit's bundled copy (`onig_new(..., ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
 *    ONIG_SYNTAX_RUBY)`, src/flb_regex.c) or Ruby's (`Regexp.compile`, for Fluentd). They are
 *    compiled here with Oniguruma itself (vscode-oniguruma's WebAssembly build) in Ruby syntax with
 *    the same options, plus the checks where the two engines differ (see docs/admission-safety.md):
 *    Ruby's own escape preprocessing (rb_reg_preprocess: a bare `\x` is refused by Ruby, taken by
 *    Fluent Bit) and Fluent Bit's `/pattern/flags` reading of a pattern that starts with `/`.
 *  - Admin `podParams` patterns are matched against pod input at admission time, so they run on
 *    RE2 (re2js, pure JavaScript): linear time in the input, whatever the pattern. Patterns RE2
 *    cannot run (backreferences, lookaround) are refused when the policy loads.
 *
 * The WebAssembly module is loaded the first time a pod asks for a regex, not at start: it is
 * ~12 MB of resident memory that a cluster whose pods use no `regex` parser never needs. Every
 * function here stays synchronous: a check that needs Oniguruma before it is loaded throws
 * {@link RegexEngineNotLoaded}, and the asynchronous entry points (the handlers, the CLI, the
 * preview worker, the auditor) run their synchronous work through {@link withRegexEngine}, which
 * loads the engine and runs the work again. The work is pure, so running it again is safe.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { RE2JS } from 're2js';
import type * as Onig from 'vscode-oniguruma';

/** vscode-oniguruma's `Syntax.Ruby` and `FindOption.None` (const enums, not importable with isolatedModules). */
const SYNTAX_RUBY = 10;
const OPTION_NONE = 1;

const require = createRequire(import.meta.url);
const wasmPath = require.resolve('vscode-oniguruma/release/onig.wasm');
const onigPath = require.resolve('vscode-oniguruma');

/** Thrown by a check that needs Oniguruma before {@link loadRegexEngine} has finished. */
export class RegexEngineNotLoaded extends Error {
  constructor() {
    super('the regex engine (Oniguruma) is not loaded yet; run the work through withRegexEngine');
    this.name = 'RegexEngineNotLoaded';
  }
}

/** The loaded engine: vscode-oniguruma's module, once its `loadWASM` has succeeded. */
let onig: typeof Onig | undefined;
let loading: Promise<void> | undefined;
/** When the last load failed (ms), and why: another is tried only after RETRY_LOAD_MS. */
let failed: { at: number; error: unknown } | undefined;
/** Loads a test wants to fail ({@link forgetRegexEngineForTests}). */
let brokenLoads = 0;
/** Between two attempts to load the engine after a failure: each costs the event loop tens of ms. */
export const RETRY_LOAD_MS = 10_000;

/**
 * Load Oniguruma's WebAssembly module, once; later calls share the load. A load that fails is
 * tried again by a call at least RETRY_LOAD_MS later (calls before that fail at once with the same
 * error), with a fresh copy of vscode-oniguruma: it keeps its first load's promise, failed or not.
 */
export function loadRegexEngine(): Promise<void> {
  if (loading) return loading;
  if (failed && Date.now() - failed.at < RETRY_LOAD_MS) return Promise.reject(failed.error);
  loading = Promise.resolve()
    .then(async () => {
      delete require.cache[onigPath];
      const mod = require(onigPath) as typeof Onig;
      // Bytes that are not WebAssembly, when a test asks for failed loads.
      const broken = brokenLoads > 0;
      if (broken) brokenLoads--;
      const bytes = broken ? new Uint8Array([0, 0x61, 0x73, 0x6d, 9]) : readFileSync(wasmPath);
      await mod.loadWASM(bytes);
      onig = mod;
      failed = undefined;
    })
    .catch((e: unknown) => {
      failed = { at: Date.now(), error: e };
      loading = undefined;
      throw e;
    });
  return loading;
}

/**
 * For tests: checks throw {@link RegexEngineNotLoaded} again, as in a process that has not loaded
 * the engine, so the lazy paths can be run in process. The next load instantiates it afresh;
 * `brokenLoads` of them are given bytes that are not WebAssembly, and fail.
 */
export function forgetRegexEngineForTests(opts: { brokenLoads?: number } = {}): void {
  onig = undefined;
  loading = undefined;
  failed = undefined;
  brokenLoads = opts.brokenLoads ?? 0;
}

/** True once Oniguruma is loaded (a pod asked for a regex, or an entry point loaded it). */
export function regexEngineLoaded(): boolean {
  return onig !== undefined;
}

/**
 * Run synchronous `work`; when it needs Oniguruma before it is loaded, load it and run `work`
 * again. Returns synchronously when the work did not need loading, so the common path costs no
 * promise: `let r = withRegexEngine(work); if (r instanceof Promise) r = await r;`.
 * `onLoaded` is called once, by the call that started the load, when the load has finished.
 */
export function withRegexEngine<T>(work: () => T, onLoaded?: () => void): T | Promise<T> {
  try {
    return work();
  } catch (e) {
    if (!(e instanceof RegexEngineNotLoaded)) throw e;
    const starting = loading === undefined;
    return loadRegexEngine().then(() => {
      if (starting) onLoaded?.();
      return work();
    });
  }
}

/** Oniguruma's compile error for `pattern` in Ruby syntax with ONIG_OPTION_NONE, or undefined when it compiles. */
export function onigurumaError(pattern: string): string | undefined {
  // Before the try: an unloaded engine is not the pattern's fault.
  if (!onig) throw new RegexEngineNotLoaded();
  let scanner: InstanceType<typeof Onig.OnigScanner> | undefined;
  try {
    scanner = new onig.OnigScanner([pattern], { syntax: SYNTAX_RUBY, options: [OPTION_NONE] });
    return undefined;
  } catch (e) {
    return String((e as Error)?.message ?? e);
  } finally {
    scanner?.dispose();
  }
}

const HEX = /^[0-9a-fA-F]$/;
const OCT = /^[0-7]$/;

/** A cursor over the pattern's code points (Ruby reads the regexp source byte-wise; escapes are ASCII). */
interface Cursor {
  readonly s: string;
  i: number;
}

/**
 * Ruby's read_escaped_byte (re.c): one `\x..`, `\NNN`, `\c.`, `\C-.`, `\M-.` or named escape
 * starting at the backslash; returns the byte, or throws the error Ruby raises.
 */
function readEscapedByte(c: Cursor): number {
  let meta = false;
  let ctrl = false;
  for (;;) {
    if (c.i >= c.s.length || c.s[c.i] !== '\\') throw new Error('too short escaped multibyte character');
    c.i++;
    if (c.i >= c.s.length) throw new Error('too short escape sequence');
    const ch = c.s[c.i++]!;
    let code: number;
    switch (ch) {
      case '\\': code = 0x5c; break;
      case 'n': code = 0x0a; break;
      case 't': code = 0x09; break;
      case 'r': code = 0x0d; break;
      case 'f': code = 0x0c; break;
      case 'v': code = 0x0b; break;
      case 'a': code = 0x07; break;
      case 'e': code = 0x1b; break;
      case 'x': {
        let digits = '';
        while (digits.length < 2 && c.i < c.s.length && HEX.test(c.s[c.i]!)) digits += c.s[c.i++];
        if (!digits) throw new Error('invalid hex escape');
        code = parseInt(digits, 16);
        break;
      }
      case 'M':
        if (meta) throw new Error('duplicate meta escape');
        meta = true;
        if (c.i + 1 < c.s.length && c.s[c.i++] === '-' && c.s.charCodeAt(c.i) < 0x80) {
          if (c.s[c.i] === '\\') continue;
          code = c.s.charCodeAt(c.i++);
          break;
        }
        throw new Error('too short meta escape');
      case 'C': // \C-X is \cX
      case 'c':
        if (ch === 'C' && (c.i >= c.s.length || c.s[c.i++] !== '-')) throw new Error('too short control escape');
        if (ctrl) throw new Error('duplicate control escape');
        ctrl = true;
        if (c.i < c.s.length && c.s.charCodeAt(c.i) < 0x80) {
          if (c.s[c.i] === '\\') continue;
          code = c.s.charCodeAt(c.i++);
          break;
        }
        throw new Error('too short control escape');
      default:
        if (OCT.test(ch)) {
          let digits = ch;
          while (digits.length < 3 && c.i < c.s.length && OCT.test(c.s[c.i]!)) digits += c.s[c.i++];
          code = parseInt(digits, 8);
          break;
        }
        throw new Error('unexpected escape sequence');
    }
    if (ctrl) code &= 0x9f;
    if (meta) code |= 0x80;
    if (code > 0xff) throw new Error('invalid escape code');
    return code;
  }
}

/** UTF-8 sequence length announced by a lead byte, or 0 when it cannot start one. */
function utf8Length(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** unescape_escaped_nonascii: escaped bytes must form one valid UTF-8 character. */
function readEscapedChar(c: Cursor): void {
  const bytes = [readEscapedByte(c)];
  const want = utf8Length(bytes[0]!);
  if (want === 0) throw new Error('invalid multibyte escape');
  while (bytes.length < want) bytes.push(readEscapedByte(c));
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    throw new Error('invalid multibyte escape');
  }
}

function checkUnicodeRange(code: number): void {
  if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) throw new Error('invalid Unicode range');
}

/** `\u` escapes: `\uHHHH` or `\u{H HH ...}` (unescape_unicode_bmp / unescape_unicode_list). */
function readUnicode(c: Cursor): void {
  if (c.i >= c.s.length) throw new Error('too short escape sequence');
  if (c.s[c.i] === '{') {
    c.i++;
    let any = false;
    const space = () => {
      while (c.i < c.s.length && /[ \t\n\v\f\r]/.test(c.s[c.i]!)) c.i++;
    };
    space();
    for (;;) {
      let digits = '';
      while (c.i < c.s.length && HEX.test(c.s[c.i]!)) digits += c.s[c.i++];
      if (!digits) break;
      if (digits.length > 6) throw new Error('invalid Unicode range');
      checkUnicodeRange(parseInt(digits, 16));
      any = true;
      space();
    }
    if (!any) throw new Error('invalid Unicode list');
    if (c.s[c.i++] !== '}') throw new Error('invalid Unicode list');
    return;
  }
  const digits = c.s.slice(c.i, c.i + 4);
  if (!/^[0-9a-fA-F]{4}$/.test(digits)) throw new Error('invalid Unicode escape');
  checkUnicodeRange(parseInt(digits, 16));
  c.i += 4;
}

/**
 * The errors Ruby raises while preprocessing a regexp source before Onigmo sees it
 * (rb_reg_preprocess -> unescape_nonascii in re.c). Oniguruma alone takes these patterns, which
 * is why Fluentd (Ruby) is stricter than Fluent Bit: `\x`, `\xFF` (a lone non-UTF-8 byte),
 * `\M-x`, `\u12`, `\u{D800}`, a trailing `\`. `(?#...)` comments are skipped, as Ruby does.
 */
export function rubyRegexpError(pattern: string): string | undefined {
  const c: Cursor = { s: pattern, i: 0 };
  try {
    while (c.i < c.s.length) {
      const ch = c.s[c.i]!;
      if (ch === '(' && c.s.startsWith('(?#', c.i)) {
        const close = c.s.indexOf(')', c.i);
        c.i = close < 0 ? c.s.length : close + 1;
        continue;
      }
      if (ch !== '\\') {
        c.i++;
        continue;
      }
      if (c.i + 1 >= c.s.length) throw new Error('too short escape sequence');
      const next = c.s[c.i + 1]!;
      if (next >= '1' && next <= '7') {
        // A backreference or a 7-bit octal escape is passed on as it is.
        let digits = '';
        for (let j = c.i + 1; j < c.s.length && digits.length < 3 && OCT.test(c.s[j]!); j++) digits += c.s[j];
        if (parseInt(digits, 8) <= 0o177) {
          c.i += 2;
          continue;
        }
        readEscapedChar(c);
      } else if (next === '0' || next === 'x' || next === 'c' || next === 'C' || next === 'M') {
        readEscapedChar(c);
      } else if (next === 'u') {
        c.i += 2;
        readUnicode(c);
      } else {
        c.i += 2; // \d, \n, \\, \p{..}, \9 ...: left to Onigmo
      }
    }
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Fluent Bit reads a pattern that starts with `/` as `/pattern/flags` when it ends with `/` or
 * with `/` and only the letters i m o x (src/flb_regex.c, check_option): `/var/log/x` would lose
 * its slashes and turn on extended mode. Such a pattern means one thing to Fluent Bit and another
 * to Fluentd, so it is refused; `\/` at the start says the same thing unambiguously.
 */
export function delimitedLikeFluentBit(pattern: string): boolean {
  if (!pattern.startsWith('/')) return false;
  const last = pattern.lastIndexOf('/');
  if (last === 0) return false;
  return last === pattern.length - 1 || /^[imox]+$/.test(pattern.slice(last + 1));
}

export type RegexAgent = 'fluent-bit' | 'fluentd';

/**
 * Why the agent would refuse (or misread) this pattern, or undefined when it compiles there the
 * way it reads. Checked with Oniguruma in Ruby syntax; Fluentd adds Ruby's preprocessing rules.
 */
export function agentRegexError(pattern: string, agent: RegexAgent): string | undefined {
  return (agent === 'fluentd' ? fluentdOnlyRegexError(pattern) : undefined) ?? bothAgentsRegexError(pattern);
}

/** What both agents refuse or misread: Onigmo's compile errors and Fluent Bit's `/pattern/flags` reading. */
export function bothAgentsRegexError(pattern: string): string | undefined {
  if (delimitedLikeFluentBit(pattern)) {
    return 'starts with / and ends like /pattern/ or /pattern/imx, which Fluent Bit reads as delimiters and flags; write the first slash as \\/';
  }
  const onigError = onigurumaError(pattern);
  return onigError === undefined ? undefined : `the agents' regex engine (Onigmo, Ruby syntax) refuses it: ${onigError}`;
}

/** What Fluentd alone refuses: Ruby's preprocessing of the regexp source. */
export function fluentdOnlyRegexError(pattern: string): string | undefined {
  const ruby = rubyRegexpError(pattern);
  return ruby === undefined ? undefined : `Fluentd (Ruby) refuses it: ${ruby}`;
}

/** A podParams pattern compiled for linear-time matching; `{namespace}` is filled at match time. */
export interface ParamPattern {
  /** True when `value` matches the whole pattern in `namespace`. */
  matches(value: string, namespace: string): boolean;
}

function compileAnchored(pattern: string, namespace: string): RE2JS {
  return RE2JS.compile(`^(?:${pattern.replaceAll('{namespace}', RE2JS.quote(namespace))})$`);
}

/** Why RE2 cannot run this podParams pattern (backreferences, lookaround, bad syntax), or undefined. */
export function paramPatternError(pattern: string): string | undefined {
  try {
    compileAnchored(pattern, 'ns');
    return undefined;
  } catch (e) {
    return String((e as Error)?.message ?? e);
  }
}

/** Match `value` against a podParams pattern with RE2 (linear time). The pattern must have passed {@link paramPatternError}. */
export function paramPatternMatches(pattern: string, namespace: string, value: string): boolean {
  return compileAnchored(pattern, namespace).matches(value);
}
