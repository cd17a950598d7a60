/**
 * Runs the record shaping of a GENERATED config on sample lines, the way each agent would, so a
 * test can see the records that leave the agent (test/records.test.ts). It reads the config text
 * back (fluent-bit-conf.ts, fluentd-conf.ts) and interprets only what sidelog writes:
 *
 *  Fluent Bit: tail (Key, Path_Key, a [MULTILINE_PARSER] state machine with start_state/cont rules:
 *  a line matching no rule of the current state flushes the event and starts over), then per
 *  [FILTER] in file order: grep (Exclude drops a record whose field matches), parser (json, regex;
 *  Reserve_Data keeps the other fields, Preserve_Key the parsed one), modify (Hard_rename moves and
 *  overwrites, Rename moves only onto a free key), record_modifier (Record sets a field).
 *  Fluentd: in_tail (path_key; parser none puts the line under message_key; multiline starts an event
 *  at each format_firstline match and joins lines with "\n", format1 takes it whole; a line before
 *  any first line is emitted as `unmatched_line`), then per <filter>: grep <exclude>, parser
 *  (key_name, reserve_data = merge over the record, remove_key_name_field, a missing key passes
 *  through), record_transformer <record>.
 *
 * Regular expressions are Onigmo/Ruby ones the generators keep inside the subset JavaScript reads the
 * same way once `\A`/`\z` are spelled `^`/`$` and the `m` flag makes `^`/`$` line anchors as in Ruby.
 * Parsers other than none, json, regex and the multiline ones are not simulated (they throw).
 */
import { type FluentBitSection, get, getOne, parseFluentBitConf, sectionsNamed } from './fluent-bit-conf.js';
import { type FluentdElement, find, param, parseFluentdConf } from './fluentd-conf.js';

export type LogRecord = Record<string, unknown>;

/** Env values the sidecar would have (downward API). */
export const FACTS: Readonly<Record<string, string>> = { SIDELOG_POD_NAME: 'shop-7d9f', SIDELOG_NAMESPACE: 'team-a', SIDELOG_NODE_NAME: 'node-1' };

/** An Onigmo/Ruby regex as JavaScript; `lineAnchors` reads ^/$ at line breaks (Ruby's always, Onigmo's Ruby syntax). */
export function jsRegex(source: string, lineAnchors = true): RegExp {
  const body = source.startsWith('/') && source.endsWith('/') && source.length > 1 ? source.slice(1, -1) : source;
  return new RegExp(body.replace(/\\A/g, '^').replace(/\\z/g, '$'), lineAnchors ? 'm' : '');
}

const expandEnv = (v: string) => v.replace(/\$\{([A-Z0-9_]+)\}/g, (_, k: string) => FACTS[k] ?? '');

/** Named groups of a match as fields (Fluent Bit and Fluentd regex parsers). */
function regexFields(re: RegExp, text: string): LogRecord | undefined {
  const m = re.exec(text);
  return m?.groups ? { ...m.groups } : undefined;
}

function parseJson(text: string): LogRecord | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Fluent Bit

function fbMultiline(parsers: FluentBitSection[], name: string, lines: readonly string[]): string[] {
  const ml = parsers.find((s) => s.name === 'MULTILINE_PARSER' && getOne(s, 'Name') === name);
  if (!ml) throw new Error(`no [MULTILINE_PARSER] ${name}`);
  const rules = get(ml, 'Rule').map((r) => {
    const m = /^"([^"]+)"\s+"([^"]+)"\s+"([^"]+)"$/.exec(r);
    if (!m) throw new Error(`unreadable rule ${r}`);
    return { from: m[1]!, re: jsRegex(m[2]!, false), to: m[3]! };
  });
  const events: string[] = [];
  let buffer: string[] = [];
  let state = 'start_state';
  const flush = () => {
    if (buffer.length) events.push(buffer.join('\n'));
    buffer = [];
    state = 'start_state';
  };
  for (const line of lines) {
    for (;;) {
      const rule = rules.find((r) => r.from === state && r.re.test(line));
      if (rule) {
        buffer.push(line);
        state = rule.to;
        break;
      }
      if (state === 'start_state') {
        events.push(line); // matches no start rule: a record of its own
        break;
      }
      flush(); // the event ended; the line starts over
    }
  }
  flush();
  return events;
}

/** The records Fluent Bit emits for `lines` of the stream tagged `tag`, as its config says. */
export function simulateFluentBit(configText: string, parsersText: string, tag: string, filePath: string, lines: readonly string[]): LogRecord[] {
  const conf = parseFluentBitConf(configText);
  const parsers = parseFluentBitConf(parsersText).sections;
  const input = sectionsNamed(conf, 'INPUT').find((s) => getOne(s, 'Tag') === tag);
  if (!input) throw new Error(`no [INPUT] tagged ${tag}`);
  const key = get(input, 'Key')[0] ?? 'log';
  const pathKey = get(input, 'Path_Key')[0];
  const ml = get(input, 'multiline.parser')[0];
  const events = ml ? fbMultiline(parsers, ml, lines) : [...lines];
  let records: LogRecord[] = events.map((e) => ({ [key]: e, ...(pathKey ? { [pathKey]: filePath } : {}) }));
  for (const f of sectionsNamed(conf, 'FILTER').filter((s) => getOne(s, 'Match') === tag)) {
    const name = getOne(f, 'Name');
    records = records.flatMap((r): LogRecord[] => {
      switch (name) {
        case 'grep': {
          for (const ex of get(f, 'Exclude')) {
            const space = ex.indexOf(' ');
            const value = r[ex.slice(0, space)];
            if (typeof value === 'string' && jsRegex(ex.slice(space + 1)).test(value)) return [];
          }
          return [r];
        }
        case 'parser': {
          const keyName = getOne(f, 'Key_Name');
          const raw = r[keyName];
          const def = parsers.find((s) => s.name === 'PARSER' && getOne(s, 'Name') === getOne(f, 'Parser'));
          if (!def) throw new Error(`no [PARSER] ${getOne(f, 'Parser')}`);
          const format = getOne(def, 'Format');
          if (typeof raw !== 'string') return [r];
          const parsed = format === 'json' ? parseJson(raw) : format === 'regex' ? regexFields(jsRegex(getOne(def, 'Regex')), raw) : (() => { throw new Error(`parser format ${format} not simulated`); })();
          if (!parsed) return [r];
          const reserve = get(f, 'Reserve_Data')[0] === 'On';
          const preserve = get(f, 'Preserve_Key')[0] === 'On';
          const rest = Object.fromEntries(Object.entries(r).filter(([k]) => k !== keyName || preserve));
          return [reserve ? { ...parsed, ...rest } : { ...parsed, ...(preserve ? { [keyName]: raw } : {}) }];
        }
        case 'modify': {
          const out = { ...r };
          for (const e of f.entries) {
            const [from, to] = e.value.split(' ') as [string, string];
            if (e.key === 'Hard_rename' && from in out) {
              out[to] = out[from];
              delete out[from];
            } else if (e.key === 'Rename' && from in out && !(to in out)) {
              out[to] = out[from];
              delete out[from];
            } else if (!['Name', 'Match', 'Hard_rename', 'Rename'].includes(e.key)) throw new Error(`modify ${e.key} not simulated`);
          }
          return [out];
        }
        case 'record_modifier': {
          const out = { ...r };
          for (const rec of get(f, 'Record')) {
            const space = rec.indexOf(' ');
            out[rec.slice(0, space)] = expandEnv(rec.slice(space + 1));
          }
          return [out];
        }
        default:
          throw new Error(`filter ${name} not simulated`);
      }
    });
  }
  return records;
}

// ---------------------------------------------------------------------------------------------
// Fluentd

function fdParse(parse: FluentdElement, text: unknown): LogRecord | undefined {
  const type = param(parse, '@type');
  if (type === 'none') return { [param(parse, 'message_key') ?? 'message']: text };
  if (typeof text !== 'string') return undefined;
  if (type === 'json') return parseJson(text);
  if (type === 'regexp') return regexFields(jsRegex(param(parse, 'expression')!), text);
  throw new Error(`<parse> ${type} not simulated`);
}

/** The records Fluentd emits for `lines` of the stream tagged `tag`, as its config says. */
export function simulateFluentd(configText: string, tag: string, filePath: string, lines: readonly string[]): LogRecord[] {
  const root = parseFluentdConf(configText);
  const source = find(root, 'source').find((s) => param(s, '@type') === 'tail' && param(s, 'tag') === tag);
  if (!source) throw new Error(`no tail source tagged ${tag}`);
  const parse = source.children.find((c) => c.name === 'parse')!;
  const pathKey = param(source, 'path_key');
  const withPath = (r: LogRecord): LogRecord => (pathKey ? { ...r, [pathKey]: filePath } : r);
  let records: LogRecord[];
  if (param(parse, '@type') === 'multiline') {
    const first = jsRegex(param(parse, 'format_firstline')!, false);
    const body = new RegExp(param(parse, 'format1')!.slice(1, -1).replace(/\\A/g, '^'), 's');
    records = [];
    let buffer: string[] | undefined;
    const flush = () => {
      if (buffer) records.push(withPath({ ...body.exec(buffer.join('\n'))!.groups }));
      buffer = undefined;
    };
    for (const line of lines) {
      if (first.test(line)) {
        flush();
        buffer = [line];
      } else if (buffer) buffer.push(line);
      else records.push(withPath({ unmatched_line: line }));
    }
    flush();
  } else {
    records = lines.map((l) => withPath(fdParse(parse, l)!));
  }
  for (const f of find(root, 'filter').filter((x) => x.arg === tag)) {
    const type = param(f, '@type');
    records = records.flatMap((r): LogRecord[] => {
      switch (type) {
        case 'grep':
          for (const ex of f.children.filter((c) => c.name === 'exclude')) {
            const v = r[param(ex, 'key')!];
            if (v !== undefined && jsRegex(param(ex, 'pattern')!).test(String(v))) return [];
          }
          return [r];
        case 'parser': {
          const keyName = param(f, 'key_name')!;
          const reserve = param(f, 'reserve_data') === 'true';
          if (!(keyName in r)) return reserve ? [r] : [];
          const parsed = fdParse(f.children.find((c) => c.name === 'parse')!, r[keyName]);
          if (!parsed) return reserve ? [r] : [];
          const out: LogRecord = reserve ? { ...r, ...parsed } : { ...parsed };
          if (param(f, 'remove_key_name_field') === 'true') delete out[keyName];
          return [out];
        }
        case 'record_transformer': {
          const out = { ...r };
          for (const p of f.children.find((c) => c.name === 'record')!.params) out[p.key] = p.value.replace(/^#\{ENV\['([A-Z0-9_]+)'\]\}$/, (_, k: string) => FACTS[k] ?? '');
          return [out];
        }
        default:
          throw new Error(`filter ${type} not simulated`);
      }
    });
  }
  return records;
}

/** A record with its keys sorted, for comparing the two agents' output. */
export const sortedKeys = (r: LogRecord): LogRecord => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
