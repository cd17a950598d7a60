/**
 * The `<parse>` sections of each Fluentd stream.
 *
 * in_tail reads the line: multiline streams join the events there (Fluentd's multiline parser
 * starts a record at every line matching `format_firstline` and appends the others; `format1` then
 * reads the whole record, line breaks included, under `log`). The first-line rule is records.ts's
 * CONTINUATION, the same one Fluent Bit's [MULTILINE_PARSER] uses, so both agents cut events at the
 * same lines. Every other stream reads the raw line with the `none` parser (under `log`, or under
 * RAW_KEY when a field parser follows), and the field parsers (json, regex, nginx, apache, syslog)
 * run in a `parser` filter afterwards, as Fluent Bit's parser filter does: the raw line stays in
 * the record, the credential guard sees it first, and the collision rule can move the app's keys.
 * Lines that match no multiline pattern are emitted as `unmatched_line` (in_tail
 * emit_unmatched_lines) instead of dropped.
 */
import type { ParserName } from '../../webhook/core/annotations.js';
import { MESSAGE_KEY, MULTILINE_FLUSH_MS, type MultilineParser, RAW_KEY, firstLineRegex, isMultilineParser, parsesFields } from '../records.js';
import type { AgentStream } from '../types.js';
import type { Directive, Param } from './conf.js';

export const MULTILINE_FIRSTLINE: Readonly<Record<MultilineParser, string>> = {
  'multiline-java': firstLineRegex('multiline-java'),
  'multiline-python': firstLineRegex('multiline-python'),
  'multiline-go': firstLineRegex('multiline-go'),
};

/** The whole multiline record, line breaks included, under `log`. */
export const MULTILINE_BODY = String.raw`/\A(?<log>.*)/`;

/** Seconds a multiline record may wait for more lines before in_tail emits it. */
export const MULTILINE_FLUSH_INTERVAL = `${MULTILINE_FLUSH_MS / 1000}s`;

/**
 * A key the lines do not carry: Fluent Bit's json and custom-regex parsers take no time from the
 * record, while Fluentd's would parse a `time` field and drop the whole line when that fails (pino's
 * epoch milliseconds, for one). Pointing time_key elsewhere keeps the read time, as Fluent Bit does.
 */
export const NO_TIME_KEY = 'sidelog_time';

export const isMultiline = (p: ParserName): p is MultilineParser => isMultilineParser(p);

/** The `<parse>` of the tail source: the raw line (or the joined multiline event). */
export function sourceParseDirective(s: Pick<AgentStream, 'parser'>): Directive {
  if (isMultiline(s.parser)) {
    return { name: 'parse', params: [['@type', 'multiline'], ['format_firstline', MULTILINE_FIRSTLINE[s.parser]], ['format1', MULTILINE_BODY]] };
  }
  return { name: 'parse', params: [['@type', 'none'], ['message_key', parsesFields(s.parser) ? RAW_KEY : MESSAGE_KEY]] };
}

/** The `<parse>` of the parser filter of a field-parser stream; undefined for none and multiline. */
export function parseDirective(s: Pick<AgentStream, 'parser' | 'regex'>): Directive | undefined {
  const params = ((): Param[] | undefined => {
    switch (s.parser) {
      case 'json':
        return [['@type', 'json'], ['time_key', NO_TIME_KEY]];
      case 'regex':
        if (s.regex === undefined) throw new Error('parser regex without a regex');
        return [['@type', 'regexp'], ['expression', `/${s.regex}/`], ['time_key', NO_TIME_KEY]];
      case 'nginx':
        return [['@type', 'nginx'], ['keep_time_key', 'true']];
      case 'apache':
        return [['@type', 'apache2'], ['keep_time_key', 'true']];
      case 'syslog':
        // Traditional syslog file lines without <PRI>, as Fluent Bit's sidelog-syslog parser reads them.
        return [['@type', 'syslog'], ['message_format', 'rfc3164'], ['with_priority', 'false'], ['keep_time_key', 'true']];
      default:
        return undefined;
    }
  })();
  return params ? { name: 'parse', params } : undefined;
}
