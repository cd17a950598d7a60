/**
 * [PARSER] bodies for the named parsers, as in Fluent Bit's own conf/parsers.conf (nginx,
 * apache2), with sidelog names so they never clash with the image's parsers file. `syslog` is
 * the traditional syslog *file* format (`Nov 23 12:00:00 host app[42]: message`, no <PRI>), the
 * same lines Fluentd's syslog parser reads by default. Multiline parsers are Fluent Bit built-ins
 * (java, go, python) set on the tail input and need no entry here.
 */
import type { ParserName } from '../../webhook/core/annotations.js';

type Body = ReadonlyArray<readonly [string, string]>;

export const PARSER_REGEX = {
  nginx: String.raw`^(?<remote>[^ ]*) (?<host>[^ ]*) (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^\"]*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")`,
  apache: String.raw`^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^ ]*) +\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>.*)")?$`,
  syslog: String.raw`^(?<time>[^ ]* {1,2}[^ ]* [^ ]*) (?<host>[^ ]*) (?<ident>[a-zA-Z0-9_\/\.\-]*)(?:\[(?<pid>[0-9]+)\])?(?:[^\:]*\:)? *(?<message>.*)$`,
} as const;

export const PARSER_DEFINITIONS: Partial<Record<ParserName, Body>> = {
  json: [['Format', 'json']],
  nginx: [['Format', 'regex'], ['Regex', PARSER_REGEX.nginx], ['Time_Key', 'time'], ['Time_Format', '%d/%b/%Y:%H:%M:%S %z'], ['Time_Keep', 'On']],
  apache: [['Format', 'regex'], ['Regex', PARSER_REGEX.apache], ['Time_Key', 'time'], ['Time_Format', '%d/%b/%Y:%H:%M:%S %z'], ['Time_Keep', 'On']],
  syslog: [['Format', 'regex'], ['Regex', PARSER_REGEX.syslog], ['Time_Key', 'time'], ['Time_Format', '%b %d %H:%M:%S'], ['Time_Keep', 'On']],
};
