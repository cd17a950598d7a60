/**
 * One record per event, the same shape from both agents (docs/pipelines.md "Record schema").
 * Each folder under test/golden/records holds `case.yaml` (the stream's parser, and its regex) and
 * `input.log` (lines as the app writes them). The test renders the stream's config for both agents,
 * runs each config's record shaping on the lines (test/helpers/pipeline-sim.ts), requires the two
 * agents to emit the same records, and compares them with `records.json` (refreshed by
 * `npm run test:update-goldens`).
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { parse as parseYaml } from 'yaml';
import { APP_PREFIX, ENRICHMENT_KEYS, MESSAGE_KEY } from '../sidecar-templates/records.js';
import type { ParserName } from '../webhook/core/annotations.js';
import { GOLDEN_DIR, UPDATE } from './golden/harness.js';
import { FACTS, type LogRecord } from './helpers/pipeline-sim.js';
import { FILE, recordsOf, streamInput } from './helpers/records.js';

const RECORDS_DIR = join(GOLDEN_DIR, 'records');

const cases = readdirSync(RECORDS_DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe.each(cases)('records: %s', (name) => {
  const dir = join(RECORDS_DIR, name);
  const spec = parseYaml(readFileSync(join(dir, 'case.yaml'), 'utf8')) as { parser: ParserName; regex?: string };
  const lines = readFileSync(join(dir, 'input.log'), 'utf8').replace(/\n$/, '').split('\n');
  const { fluentBit, fluentd } = recordsOf(streamInput(spec.parser, spec.regex), lines);

  it('both agents emit the same records', () => {
    expect(fluentd).toEqual(fluentBit);
  });

  it('every record has the message and the enrichment, and nothing internal', () => {
    for (const r of fluentBit) {
      expect(typeof r[MESSAGE_KEY]).toBe('string');
      expect(r).toMatchObject({ pod: FACTS.SIDELOG_POD_NAME, namespace: FACTS.SIDELOG_NAMESPACE, node: FACTS.SIDELOG_NODE_NAME, container: 'web', stream: 'app', file: FILE });
      for (const k of ENRICHMENT_KEYS) expect(k in r).toBe(true);
      expect(Object.keys(r).filter((k) => k.startsWith('sidelog_'))).toEqual([]);
    }
  });

  it('matches records.json', () => {
    const text = `${JSON.stringify(fluentBit, null, 2)}\n`;
    const golden = join(dir, 'records.json');
    if (UPDATE) writeFileSync(golden, text);
    else {
      const expected = existsSync(golden) ? readFileSync(golden, 'utf8') : '';
      if (expected !== text) throw new Error(createTwoFilesPatch(`${name}/records.json (golden)`, `${name}/records.json (actual)`, expected, text));
    }
  });
});

describe('what the records promise', () => {
  const load = (name: string) => JSON.parse(readFileSync(join(RECORDS_DIR, name, 'records.json'), 'utf8')) as LogRecord[];

  it.each(['multiline-java', 'multiline-go', 'multiline-python'])('%s: the logger line and its stack trace are one event', (name) => {
    const records = load(name);
    const lines = readFileSync(join(RECORDS_DIR, name, 'input.log'), 'utf8').replace(/\n$/, '').split('\n');
    // The first line after the trace starts the last event; all before it join the event that
    // starts at the logger's error line (and for Go, a line logged before the panic stays alone).
    const last = records[records.length - 1]!;
    expect(last[MESSAGE_KEY]).toBe(lines[lines.length - 1]);
    const trace = records[records.length - 2]![MESSAGE_KEY] as string;
    expect(trace.split('\n').length).toBeGreaterThanOrEqual(4);
    expect(trace).toMatch(/(ERROR|panic:)/);
    expect(records.map((r) => r[MESSAGE_KEY]).join('\n')).toBe(lines.join('\n'));
  });

  it("a JSON line that has pod and file keeps the app's values under app_pod and app_file", () => {
    const [first, second, third] = load('json-collision');
    expect(first).toMatchObject({ pod: FACTS.SIDELOG_POD_NAME, [`${APP_PREFIX}pod`]: 'app-says', file: FILE, [`${APP_PREFIX}file`]: 'app.go', level: 'info', msg: 'order placed' });
    expect(first![MESSAGE_KEY]).toBe('{"pod":"app-says","file":"app.go","level":"info","msg":"order placed"}');
    // The app's own `log` and `namespace` move aside too; an existing app_<key> is replaced.
    expect(second).toMatchObject({ namespace: 'team-a', [`${APP_PREFIX}namespace`]: 'team-b', [`${APP_PREFIX}log`]: "the app's own log field", [`${APP_PREFIX}pod`]: 'p' });
    expect(third).toMatchObject({ [MESSAGE_KEY]: 'not json at all', pod: FACTS.SIDELOG_POD_NAME });
    expect(Object.keys(third!).some((k) => k.startsWith(APP_PREFIX))).toBe(false);
  });

  it('a regex group named like an enrichment key moves aside the same way', () => {
    const [first] = load('regex-collision');
    expect(first).toMatchObject({ stream: 'app', [`${APP_PREFIX}stream`]: 'checkout', level: 'WARN', message: 'slow response from payments' });
  });
});
