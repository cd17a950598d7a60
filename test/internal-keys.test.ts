/**
 * sidelog's internal record keys belong to sidelog: a pod's regex may not name a group after them
 * (in either of Onigmo's spellings, `(?<name>` and `(?'name'`), and an app's JSON line cannot
 * choose the Cloud Logging log name, which the catalog templates on the namespace.
 */
import { renderFluentBit } from '../sidecar-templates/fluent-bit/index.js';
import { parseStreams } from '../webhook/core/annotations.js';
import { get as getAll, parseFluentBitConf, sectionsNamed } from './helpers/fluent-bit-conf.js';
import { streamInput } from './helpers/records.js';

describe('internal record keys', () => {
  it.each([`(?<msg>.*)(?'sidelog_file'x)?`, '(?<msg>.*)(?<sidelog_raw>x)?', `(?'sidelog_log_name'.*)`])('refuses the regex group in %s, naming the field', (regex) => {
    const r = parseStreams(`- {path: /var/log/app/a.log, output: stdout, parser: regex, regex: ${JSON.stringify(regex)}}`);
    expect(r.problems).toEqual([{ field: 'sidelog.io/streams[0].regex', message: "group names must not start with sidelog_ (sidelog's internal record keys)" }]);
  });

  it('accepts ordinary group names in both spellings', () => {
    expect(parseStreams(`- {path: /var/log/app/a.log, output: stdout, parser: regex, regex: "(?<level>[A-Z]+) (?'msg'.*)"}`).problems).toEqual([]);
  });

  it('moves an app\'s own sidelog_log_name aside before sidelog sets the log name (Fluent Bit, stackdriver)', () => {
    const input = streamInput('json', undefined, { type: 'stackdriver', logName: 'team-a.app' });
    const filters = sectionsNamed(parseFluentBitConf(renderFluentBit(input).files[0]!.text), 'FILTER');
    const rename = filters.findIndex((f) => getAll(f, 'Hard_rename').includes('sidelog_log_name app_sidelog_log_name'));
    const set = filters.findIndex((f) => getAll(f, 'Record').includes('sidelog_log_name team-a.app'));
    const parse = filters.findIndex((f) => getAll(f, 'Name').includes('parser'));
    expect(parse).toBeGreaterThanOrEqual(0);
    expect([parse < rename, rename < set]).toEqual([true, true]);
  });
});
