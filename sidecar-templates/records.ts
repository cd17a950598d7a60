/**
 * What one record looks like, whichever agent ships it (docs/pipelines.md "Record schema").
 *
 *  - `log`: the line as the app wrote it (for multiline parsers: the joined event, line breaks
 *    included). Always present, also when a parser extracted fields from it.
 *  - the parser's fields (json keys, regex groups, nginx/apache/syslog fields) beside it.
 *  - sidelog's enrichment: `pod`, `namespace`, `node`, `container`, `stream`, `file`.
 *
 * ONE collision rule, the same in both agents: when the parsed line already has one of the keys
 * sidelog sets (`log` and the enrichment keys), the app's value is moved to `app_<key>` (an
 * existing `app_<key>` is replaced) and sidelog's value takes the key. Nothing is lost without a
 * word, and nothing the app writes can pose as another pod's or namespace's record.
 *
 * The chain that implements it, per stream with a field parser (json, regex, nginx, apache, syslog):
 *   tail (raw line under RAW_KEY, file path under FILE_KEY) -> credential guard -> parser (keeps
 *   RAW_KEY) -> move app keys aside -> RAW_KEY to `log`, FILE_KEY to `file` -> enrichment.
 * Streams without a field parser (none, multiline-*) have nothing that can collide: tail writes
 * `log` and `file` directly.
 */
import type { ParserName } from '../webhook/core/annotations.js';

export const MESSAGE_KEY = 'log';
/** Keys sidelog sets on every record after the message. */
export const ENRICHMENT_KEYS = ['pod', 'namespace', 'node', 'container', 'stream', 'file'] as const;
/** Keys an app's parsed line may not keep: they are moved to `app_<key>`. */
export const RESERVED_KEYS = [MESSAGE_KEY, ...ENRICHMENT_KEYS] as const;
export const APP_PREFIX = 'app_';
/** Internal keys while a record is being shaped; never in a record that leaves the agent. */
export const RAW_KEY = 'sidelog_raw';
export const FILE_KEY = 'sidelog_file';
/** Fluent Bit's stackdriver output reads the log name from this key (set by sidelog from the catalog). */
export const LOG_NAME_KEY = 'sidelog_log_name';
/** Regex groups a pod may not name: they would collide with the internal keys. */
export const INTERNAL_PREFIX = 'sidelog_';

export const appKey = (key: string) => `${APP_PREFIX}${key}`;

/** Parsers that turn the line into fields (and so can collide with sidelog's keys). */
export const FIELD_PARSERS: ReadonlySet<ParserName> = new Set(['json', 'regex', 'nginx', 'apache', 'syslog']);
export const parsesFields = (p: ParserName) => FIELD_PARSERS.has(p);

export type MultilineParser = 'multiline-java' | 'multiline-go' | 'multiline-python';
export const isMultilineParser = (p: ParserName): p is MultilineParser => p === 'multiline-java' || p === 'multiline-go' || p === 'multiline-python';

/**
 * Lines that CONTINUE an event (a stack trace) rather than start one, per language, as Onigmo
 * (Fluent Bit) and Ruby (Fluentd) alternatives anchored at the start of the line. A line that
 * matches none of them starts a new event, so the logger's line (`... ERROR boom`) starts the event
 * and the exception with its frames joins it, in both agents.
 *  - Java: white space (`\tat ...`), `at `, `Caused by:`, `Suppressed:`, `... N more`, an empty
 *    line, or the exception line itself (a qualified class name ending in Exception/Error/Throwable).
 *  - Python: white space (`  File ...`), `Traceback (most recent call last):`, the two chained
 *    exception banners, an empty line, or the final `ValueError: ...` line.
 *  - Go: white space (`\t/app/main.go:12 +0x1d`), empty, `[signal ...`, `goroutine N [...]:`,
 *    `created by ...`, `exit status N`, or a frame `pkg.Func(args)` (no white space before `(`,
 *    `)` at the end). `panic:` / `fatal error:` lines start the event.
 */
export const CONTINUATION: Readonly<Record<MultilineParser, readonly string[]>> = {
  'multiline-java': [
    String.raw`\s`, String.raw`\z`, 'at ', 'Caused by:', 'Suppressed:', String.raw`\.\.\. \d+ (?:more|common frames omitted)`,
    String.raw`(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)(?::|\z)`,
  ],
  'multiline-python': [
    String.raw`\s`, String.raw`\z`, String.raw`Traceback \(most recent call last\):`,
    'During handling of the above exception', 'The above exception was the direct cause',
    String.raw`(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Warning|Interrupt|Exit|Iteration)(?::|\z)`,
  ],
  'multiline-go': [
    String.raw`\s`, String.raw`\z`, String.raw`\[signal `, String.raw`goroutine \d+ \[`, 'created by ',
    String.raw`exit status \d`, String.raw`[^\s()]+\(.*\)\z`,
  ],
};

/** `/\A(?!a|b|...)/`: the line starts an event (Fluentd format_firstline, Fluent Bit start_state). */
export const firstLineRegex = (p: MultilineParser) => `/\\A(?!${CONTINUATION[p].join('|')})/`;
/** `/\A(?:a|b|...)/`: the line continues the event (Fluent Bit's `cont` rule). */
export const continuationRegex = (p: MultilineParser) => `/\\A(?:${CONTINUATION[p].join('|')})/`;

/** Milliseconds an event may wait for more lines before the agent emits it (both agents). */
export const MULTILINE_FLUSH_MS = 5000;

/**
 * The credential guard: a record whose message matches is dropped by both agents before it is
 * parsed or sent (docs/pipelines.md "Credentials never become log lines"). It catches what a
 * symlink in a log volume could make the agent read from the sidecar's own file system:
 *  - PEM private keys: the BEGIN/END lines and the 64-character base64 body lines (mixed case
 *    and digits, as key material is; a 64-digit hex hash is not dropped);
 *  - Google service-account key files: the `"private_key": "-----BEGIN ..."` line;
 *  - the agent's own environment (/proc/self/environ): Secret-backed variables sidelog sets.
 * Written in the common subset of Onigmo, Ruby and JavaScript regular expressions; `^`/`$` are
 * line anchors in Onigmo and Ruby (JavaScript needs the `m` flag to read it the same way).
 */
export const CREDENTIAL_GUARD = [
  String.raw`-----(?:BEGIN|END) [A-Z0-9 ]*PRIVATE KEY-----`,
  String.raw`"private_key"\s*:`,
  String.raw`(?:AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|SIDELOG_[A-Z0-9_]+_(?:PASSWORD|SHARED_KEY|USERNAME))=`,
  String.raw`^(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[0-9])[A-Za-z0-9+/]{64}$`,
].join('|');
