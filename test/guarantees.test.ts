/**
 * "Critical" is a contract per output type x agent (docs/pipelines.md section 2). The table in the
 * docs, the promise the code computes and the admission warnings must say the same thing.
 */
import { readFileSync } from 'node:fs';
import { renderFluentBit } from '../sidecar-templates/fluent-bit/index.js';
import { renderFluentd } from '../sidecar-templates/fluentd/index.js';
import { criticalPromise } from '../sidecar-templates/guarantees.js';
import { AGENTS } from '../webhook/core/annotations.js';
import { type Output, OutputSchema, policyFromObject } from '../webhook/core/policy.js';
import { streamInput } from './helpers/records.js';

const ROWS: Record<string, Record<string, unknown>> = {
  '`forward` (`requireAck: true`, default)': { type: 'forward', host: 'agg', tag: 'sidelog.team-a.app' },
  '`forward` (`requireAck: false`)': { type: 'forward', host: 'agg', tag: 'sidelog.team-a.app', requireAck: false },
  '`kafka`': { type: 'kafka', brokers: ['k:9092'] },
  '`elasticsearch` / OpenSearch': { type: 'elasticsearch', host: 'es' },
  '`loki`': { type: 'loki', host: 'loki' },
  '`http`': { type: 'http', host: 'h' },
  '`s3`': { type: 's3', bucket: 'bkt', region: 'eu-west-1' },
  '`stackdriver`': { type: 'stackdriver', logName: 'team-a.app' },
  '`cloudwatch`': { type: 'cloudwatch', region: 'us-east-1' },
  '`syslog` (tcp, tls)': { type: 'syslog', host: 's', protocol: 'tls' },
  '`syslog` (udp)': { type: 'syslog', host: 's', protocol: 'udp' },
  '`stdout`': { type: 'stdout' },
};

/** The rows of the guarantee table in docs/pipelines.md: output -> [Fluent Bit cell, Fluentd cell]. */
function docsTable(): Map<string, [string, string]> {
  const text = readFileSync(new URL('../docs/pipelines.md', import.meta.url), 'utf8');
  const start = text.indexOf('| output | Fluent Bit 4.2 | Fluentd 1.19 |');
  const rows = text.slice(start).split('\n').slice(2).filter((l) => l.startsWith('|'));
  const table = new Map<string, [string, string]>();
  for (const row of rows.slice(0, Object.keys(ROWS).length)) {
    const [, name, fb, fd] = row.split('|').map((c) => c.trim());
    table.set(name!, [fb!, fd!]);
  }
  return table;
}

const guaranteeIn = (cell: string) => /^\*\*([a-z0-9-]+)\*\*/.exec(cell)?.[1] ?? (cell.startsWith('at-least-once') ? 'at-least-once' : `unreadable: ${cell}`);

describe('the critical contract', () => {
  const table = docsTable();

  it('documents every output type', () => {
    expect([...table.keys()]).toEqual(Object.keys(ROWS));
  });

  it.each(Object.entries(ROWS))('%s: the docs table, the code and admission agree for both agents', (row, spec) => {
    const output: Output = OutputSchema.parse(spec);
    const cells = table.get(row)!;
    AGENTS.forEach((agent, i) => {
      const promise = criticalPromise(agent, output);
      expect([row, agent, guaranteeIn(cells[i]!)]).toEqual([row, agent, promise.guarantee]);
      const input = { ...streamInput('none', undefined, spec), defaults: policyFromObject({ defaults: { onBufferFull: 'drop-oldest' } }).defaults };
      const critical = { ...input, streams: input.streams.map((s) => ({ ...s, critical: true })) };
      const render = agent === 'fluent-bit' ? renderFluentBit(critical) : renderFluentd(critical);
      const warned = render.warnings.some((w) => w.includes('is critical but'));
      expect([row, agent, warned]).toEqual([row, agent, promise.guarantee !== 'at-least-once']);
      if (warned) expect(cells[i]).toContain('(warning)');
      // A stream that is not critical promises nothing more and warns about nothing.
      expect((agent === 'fluent-bit' ? renderFluentBit(input) : renderFluentd(input)).warnings).toEqual([]);
    });
  });

  it('Fluent Bit under onBufferFull: block says it drops the oldest chunks; Fluentd blocks (also when unset)', () => {
    const input = streamInput('none', undefined, { type: 'forward', host: 'agg', tag: 'sidelog.team-a.app' });
    const critical = { ...input, streams: input.streams.map((s) => ({ ...s, critical: true })) };
    expect(renderFluentBit(critical).warnings).toEqual([]);
    expect(renderFluentd(critical).files[0]!.text).toMatch(/overflow_action +block/);
    const blocking = { ...critical, defaults: policyFromObject({ defaults: { onBufferFull: 'block' } }).defaults };
    expect(renderFluentBit(blocking).warnings.join('\n')).toMatch(/cannot block .* oldest chunks are dropped/);
    expect(renderFluentd(blocking).warnings).toEqual([]);
    expect(renderFluentd(blocking).files[0]!.text).toMatch(/overflow_action +block/);
    const dropping = { ...critical, defaults: policyFromObject({ defaults: { onBufferFull: 'drop-oldest' } }).defaults };
    expect(renderFluentd(dropping).files[0]!.text).toMatch(/overflow_action +drop_oldest_chunk/);
  });
});
