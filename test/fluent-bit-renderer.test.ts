/**
 * The Fluent Bit renderer on its own: what it intends (sections as data) is exactly what Fluent
 * Bit reads back; critical streams get the settings that lose nothing through an outage
 * (shared/AGENTS.md); hostile values are refused, never rendered.
 */
import fc from 'fast-check';
import { fluentBitParserSections, fluentBitSections, renderFluentBit, serialize } from '../sidecar-templates/fluent-bit/index.js';
import { continuationRegex, firstLineRegex } from '../sidecar-templates/records.js';
import type { AgentStream } from '../sidecar-templates/types.js';
import { OUTPUT_TYPES, OutputSchema, policyFromObject } from '../webhook/core/policy.js';
import { checkAgentConfig } from './helpers/agent-config.js';
import { getOne, parseFluentBitConf, sectionsNamed } from './helpers/fluent-bit-conf.js';

const defaults = policyFromObject({}).defaults;
const OUTPUTS = {
  forward: { type: 'forward', host: 'agg.logging.svc', tls: true, credentialsSecret: 'fwd' },
  kafka: { type: 'kafka', brokers: ['k:9093'], tls: true, credentialsSecret: 'k' },
  elasticsearch: { type: 'elasticsearch', host: 'es', credentialsSecret: 'es' },
  loki: { type: 'loki', host: 'loki', tenant: 't' },
  http: { type: 'http', host: 'h', uri: '/x' },
  s3: { type: 's3', bucket: 'bkt', region: 'eu-west-1', credentialsSecret: 'aws' },
  stackdriver: { type: 'stackdriver', credentialsSecret: 'gcp' },
  cloudwatch: { type: 'cloudwatch', region: 'us-east-1' },
  syslog: { type: 'syslog', host: 's', protocol: 'tls' },
  stdout: { type: 'stdout' },
} as const;

function stream(over: Partial<AgentStream> = {}, output: object = OUTPUTS.stdout): AgentStream {
  return { index: 0, name: 'app', container: 'web', appPath: '/var/log/app/app.log', sidecarPath: '/sidelog/logs/v/app.log', parser: 'none', critical: false, outputName: 'out', output: OutputSchema.parse(output), ...over };
}

function intendedEntries(sections: ReturnType<typeof fluentBitSections>) {
  return sections.map((s) => ({ name: s.name, entries: s.entries.map(([key, value]) => ({ key, value })) }));
}

describe('Fluent Bit config', () => {
  it.each(OUTPUT_TYPES.map((t) => [t]))('output %s: parses back to exactly the intended sections, with only known keys', (type) => {
    const input = { streams: [stream({ critical: true }, OUTPUTS[type])], defaults, flushSeconds: 20, namespace: 'team-a' };
    const render = renderFluentBit(input);
    const main = render.files.find((f) => f.file === 'fluent-bit.conf')!;
    const parsed = parseFluentBitConf(main.text);
    expect(parsed.directives).toEqual([]);
    expect(parsed.sections.map((s) => ({ name: s.name, entries: s.entries.map(({ key, value }) => ({ key, value })) }))).toEqual(intendedEntries(fluentBitSections(input)));
    expect(checkAgentConfig('fluent-bit.conf', main.text)).toEqual([]);
  });

  it('gives critical streams a filesystem buffer, unlimited retries, an offset DB on the state volume and a disk bound', () => {
    const input = { streams: [stream({ critical: true }), stream({ name: 'b', critical: false })], defaults, flushSeconds: 15, namespace: 'team-a' };
    const conf = parseFluentBitConf(renderFluentBit(input).files[0]!.text);
    const [service] = sectionsNamed(conf, 'SERVICE');
    expect(getOne(service!, 'storage.path')).toBe('/sidelog/buffer/fluent-bit');
    expect(getOne(service!, 'Grace')).toBe('15');
    const [critical, plain] = sectionsNamed(conf, 'INPUT');
    expect(getOne(critical!, 'storage.type')).toBe('filesystem');
    expect(getOne(critical!, 'DB')).toBe('/sidelog/state/app.db');
    expect(getOne(plain!, 'storage.type')).toBe('memory');
    // budget.ts: (256Mi - 32 base - 2 streams x 2) / 2 / 2 streams = 55 MiB each.
    expect(getOne(plain!, 'Mem_Buf_Limit')).toBe('55M');
    const [criticalOut, plainOut] = sectionsNamed(conf, 'OUTPUT');
    expect(getOne(criticalOut!, 'Retry_Limit')).toBe('no_limits');
    // 1Gi volume - reserve (max(16, 1024/10) + 2 per disk user = 105) = 919 MiB for the one critical output.
    expect(getOne(criticalOut!, 'storage.total_limit_size')).toBe('919M');
    // The critical stream's 55 MiB share: a quarter for the backlog, the rest as 2 MiB chunks up.
    expect(getOne(service!, 'storage.backlog.mem_limit')).toBe('13M');
    expect(getOne(service!, 'storage.max_chunks_up')).toBe('21');
    expect(getOne(plainOut!, 'Retry_Limit')).toBe('10');
    expect(renderFluentBit(input).needsBuffer).toBe(true);
  });

  it('writes a parsers file with only the parsers in use, the regex verbatim', () => {
    const streams = [stream({ parser: 'json' }), stream({ name: 'b', parser: 'regex', regex: '^(?<level>\\w+) "(?<msg>[^"]*)" #1 $x' }), stream({ name: 'c', parser: 'multiline-java' })];
    const render = renderFluentBit({ streams, defaults, flushSeconds: 20, namespace: 'a' });
    const parsers = parseFluentBitConf(render.files[1]!.text);
    expect(parsers.sections.map((s) => getOne(s, 'Name'))).toEqual(['sidelog-json', 'sidelog-regex-b', 'sidelog-multiline-java']);
    expect(getOne(parsers.sections[1]!, 'Regex')).toBe('^(?<level>\\w+) "(?<msg>[^"]*)" #1 $x');
    const main = parseFluentBitConf(render.files[0]!.text);
    // Not the built-in `java` parser, which starts a record at the exception line (AGENTS.md).
    expect(getOne(sectionsNamed(main, 'INPUT')[2]!, 'multiline.parser')).toBe('sidelog-multiline-java');
    expect(checkAgentConfig('parsers.conf', render.files[1]!.text)).toEqual([]);
  });

  it('refuses any value that could end a line, open a section or expand a variable', () => {
    const hostile = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('a\n[OUTPUT]', '${HOME}', 'x\r\n@INCLUDE y', ' padded', '\u0000'));
    fc.assert(
      fc.property(hostile, fc.constantFrom('regex', 'topic', 'path', 'container'), (value, where) => {
        const s =
          where === 'regex' ? stream({ parser: 'regex', regex: value })
          : where === 'topic' ? stream({}, { ...OUTPUTS.kafka, topic: 'x' })
          : where === 'path' ? stream({ sidecarPath: value })
          : stream({ container: value });
        if (where === 'topic') (s.output as { topic: string }).topic = value;
        const input = { streams: [s], defaults, flushSeconds: 20, namespace: 'a' };
        let render: ReturnType<typeof renderFluentBit>;
        try {
          render = renderFluentBit(input);
        } catch (e) {
          expect((e as Error).message).toMatch(/^refusing to render/);
          return;
        }
        // Rendered: then Fluent Bit reads back exactly the intended sections, value for value.
        const main = parseFluentBitConf(render.files[0]!.text);
        const parsers = parseFluentBitConf(render.files[1]!.text);
        expect([...main.directives, ...parsers.directives]).toEqual([]);
        const read = (c: typeof main) => c.sections.map((x) => ({ name: x.name, entries: x.entries.map(({ key, value }) => ({ key, value })) }));
        expect(read(main)).toEqual(intendedEntries(fluentBitSections(input)));
        expect(read(parsers)).toEqual(intendedEntries(fluentBitParserSections(input.streams)));
      }),
      { numRuns: 500 },
    );
  });

  it('serializes keys only from its own vocabulary', () => {
    expect(() => serialize([{ name: 'INPUT', entries: [['Na me', 'x']] }], 'h')).toThrow('refusing to render key');
    expect(() => serialize([{ name: 'INPUT', entries: [['Name', '${X}']] }], 'h')).toThrow('outside an env reference');
    expect(serialize([{ name: 'FILTER', entries: [['Record', 'pod ${SIDELOG_POD_NAME}']] }], 'h')).toContain('Record pod ${SIDELOG_POD_NAME}');
  });

  it('needs no parser entry for none; multiline streams get a [MULTILINE_PARSER] with the shared first-line rule', () => {
    expect(fluentBitParserSections([stream({ parser: 'none' })])).toEqual([]);
    const [ml] = fluentBitParserSections([stream({ parser: 'multiline-go' })]);
    expect(ml!.name).toBe('MULTILINE_PARSER');
    expect(ml!.entries.filter(([k]) => k === 'Rule').map(([, v]) => v)).toEqual([
      `"start_state" "${firstLineRegex('multiline-go')}" "cont"`,
      `"cont" "${continuationRegex('multiline-go')}" "cont"`,
    ]);
  });
});
