/**
 * The `<parse>` section of each stream's tail source.
 *
 * Fluentd's multiline parser starts a new record at every line matching `format_firstline` and
 * appends the lines that do not match to the record being built; `format1` then reads the whole
 * record (compiled with Regexp::MULTILINE, so `.` crosses line breaks). The first-line patterns
 * below therefore say "this line is NOT the continuation of a stack trace":
 *  - Java: continuation lines start with white space (`\tat ...`, `\t... 12 more`), `at `,
 *    `Caused by:`, `Suppressed:`, `... N more`, or are the exception line itself
 *    (`java.lang.IllegalStateException: boom`, a qualified class name ending in Exception, Error or
 *    Throwable), so the log line that announced the exception keeps its stack trace. Empty lines
 *    continue too.
 *  - Python: continuation lines start with white space (`  File "x.py", line 3, in f`, the code
 *    line, `^^^^` markers), are `Traceback (most recent call last):`, one of the two chained
 *    exception banners, empty, or the final `ValueError: ...` line (a dotted name ending in Error,
 *    Exception, Warning, Interrupt, Exit or Iteration). Custom exceptions named otherwise start a
 *    record of their own.
 *  - Go: a `panic:` / `fatal error:` line starts a record (it is not excluded); its continuation
 *    lines start with white space (`\t/app/main.go:12 +0x1d`), are empty, `[signal ...`,
 *    `goroutine N [running]:`, `created by ...`, `exit status N`, or a frame `pkg.Func(args)`: no
 *    white space before the first `(` and a `)` at the end of the line.
 * Records keep the text under `log` (the key Fluent Bit's tail input uses), and lines that match
 * no pattern are emitted as `unmatched_line` (in_tail emit_unmatched_lines) instead of dropped.
 */
import type { ParserName } from '../../webhook/core/annotations.js';
import type { AgentStream } from '../types.js';
import type { Directive, Param } from './conf.js';

const NOT_A_CONTINUATION = (alternatives: readonly string[]): string => `/\\A(?!${alternatives.join('|')})/`;

export const MULTILINE_FIRSTLINE: Readonly<Record<'multiline-java' | 'multiline-go' | 'multiline-python', string>> = {
  'multiline-java': NOT_A_CONTINUATION([
    String.raw`\s`, String.raw`\z`, 'at ', 'Caused by:', 'Suppressed:', String.raw`\.\.\. \d+ (?:more|common frames omitted)`,
    String.raw`(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)(?::|\z)`,
  ]),
  'multiline-python': NOT_A_CONTINUATION([
    String.raw`\s`, String.raw`\z`, String.raw`Traceback \(most recent call last\):`,
    'During handling of the above exception', 'The above exception was the direct cause',
    String.raw`(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Warning|Interrupt|Exit|Iteration)(?::|\z)`,
  ]),
  'multiline-go': NOT_A_CONTINUATION([
    String.raw`\s`, String.raw`\z`, String.raw`\[signal `, String.raw`goroutine \d+ \[`, 'created by ',
    String.raw`exit status \d`, String.raw`[^\s()]+\(.*\)\z`,
  ]),
};

/** The whole multiline record, line breaks included, under `log`. */
export const MULTILINE_BODY = String.raw`/\A(?<log>.*)/`;

/** Seconds a multiline record may wait for more lines before in_tail emits it. */
export const MULTILINE_FLUSH_INTERVAL = '5s';

/**
 * A key the lines do not carry: Fluent Bit's json and custom-regex parsers take no time from the
 * record, while Fluentd's would parse a `time` field and drop the whole line when that fails (pino's
 * epoch milliseconds, for one). Pointing time_key elsewhere keeps the read time, as Fluent Bit does.
 */
export const NO_TIME_KEY = 'sidelog_time';

export const isMultiline = (p: ParserName): p is keyof typeof MULTILINE_FIRSTLINE => p in MULTILINE_FIRSTLINE;

/** The `<parse>` section for a stream; `regex` streams wrap the pod's pattern as `/.../`. */
export function parseDirective(s: Pick<AgentStream, 'parser' | 'regex'>): Directive {
  const params = ((): Param[] => {
    switch (s.parser) {
      case 'none':
        return [['@type', 'none'], ['message_key', 'log']];
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
      case 'multiline-java':
      case 'multiline-go':
      case 'multiline-python':
        return [['@type', 'multiline'], ['format_firstline', MULTILINE_FIRSTLINE[s.parser]], ['format1', MULTILINE_BODY]];
    }
  })();
  return { name: 'parse', params };
}
