/**
 * Credentials never become log lines (issue 7, item 12). Both agents follow symlinks in the tailed
 * directory and cannot be told not to, so a pod whose log file is a symlink to the sidecar's own key
 * file, TLS key or /proc/self/environ makes the agent read it. The generated configs drop such lines
 * before anything else sees them (records.ts CREDENTIAL_GUARD). This test puts the symlinks in place
 * in a real directory, reads through them as the agents do, runs both agents' generated filter
 * chains on what they read, and inspects the rendered configs.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderFluentBit } from '../sidecar-templates/fluent-bit/index.js';
import { renderFluentd } from '../sidecar-templates/fluentd/index.js';
import { CREDENTIAL_GUARD, RAW_KEY } from '../sidecar-templates/records.js';
import type { ParserName } from '../webhook/core/annotations.js';
import { getOne, parseFluentBitConf, sectionsNamed } from './helpers/fluent-bit-conf.js';
import { find, param, parseFluentdConf } from './helpers/fluentd-conf.js';
import { recordsOf, streamInput } from './helpers/records.js';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const EC_PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString();
/** A Google service-account key file as Google writes it: pretty-printed, the key on one line. */
const KEY_JSON = JSON.stringify({
  type: 'service_account', project_id: 'acme-logs', private_key_id: '0123456789abcdef',
  private_key: PEM, client_email: 'sidelog@acme-logs.iam.gserviceaccount.com',
}, null, 2);
/** /proc/self/environ of the agent: NUL-separated, no line break, Secret-backed variables in it. */
const ENVIRON = ['PATH=/usr/bin', 'SIDELOG_ES_MAIN_PASSWORD=hunter2-very-secret', 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'HOME=/'].join('\u0000');

/** Every full line of key material: what must never leave the agent. */
const secretLines = (pem: string) => pem.split('\n').filter((l) => l.length === 64 || l.includes('PRIVATE KEY'));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sidelog-symlink-'));
  writeFileSync(join(dir, 'tls.key'), PEM);
  writeFileSync(join(dir, 'ec.key'), EC_PEM);
  writeFileSync(join(dir, 'key.json'), KEY_JSON);
  writeFileSync(join(dir, 'environ'), ENVIRON);
  for (const [link, target] of [['app.log', 'tls.key'], ['ec.log', 'ec.key'], ['gcp.log', 'key.json'], ['env.log', 'environ']]) {
    symlinkSync(join(dir, target!), join(dir, link!));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the agent reads through the symlink (the agents open the path and follow the link). */
const linesThrough = (link: string) => readFileSync(join(dir, link), 'utf8').replace(/\n$/, '').split('\n');

const PARSERS: ParserName[] = ['none', 'json', 'regex', 'multiline-java', 'multiline-python', 'multiline-go'];

describe.each(PARSERS)('a log file that is a symlink to credentials, parser %s', (parser) => {
  const input = streamInput(parser, parser === 'regex' ? '^(?<all>.*)$' : undefined);

  it.each([['app.log', PEM], ['ec.log', EC_PEM]])('%s -> a TLS private key: no full line of key material leaves either agent', (link, pem) => {
    const lines = linesThrough(link);
    expect(lines.length).toBeGreaterThan(3);
    const { fluentBit, fluentd } = recordsOf(input, lines);
    for (const records of [fluentBit, fluentd]) {
      const shipped = JSON.stringify(records);
      for (const secret of secretLines(pem)) expect(shipped).not.toContain(secret);
    }
  });

  it('gcp.log -> a service-account key.json: the private key never leaves either agent', () => {
    const { fluentBit, fluentd } = recordsOf(input, linesThrough('gcp.log'));
    for (const records of [fluentBit, fluentd]) {
      const shipped = JSON.stringify(records);
      expect(shipped).not.toContain('PRIVATE KEY');
      for (const secret of secretLines(PEM)) expect(shipped).not.toContain(secret);
    }
  });

  it("env.log -> /proc/self/environ: the agent's Secret-backed variables never leave either agent", () => {
    const { fluentBit, fluentd } = recordsOf(input, linesThrough('env.log'));
    for (const records of [fluentBit, fluentd]) {
      expect(JSON.stringify(records)).not.toContain('hunter2');
      expect(JSON.stringify(records)).not.toContain('wJalrXUtnFEMI');
    }
  });
});

describe('the rendered configs', () => {
  it.each(PARSERS)('parser %s: the guard is the first filter of the stream, on the raw line, in both agents', (parser) => {
    const input = streamInput(parser, parser === 'regex' ? '^(?<all>.*)$' : undefined);
    const raw = ['json', 'regex'].includes(parser) ? RAW_KEY : 'log';
    const fb = parseFluentBitConf(renderFluentBit(input).files[0]!.text);
    const [first] = sectionsNamed(fb, 'FILTER');
    expect(getOne(first!, 'Name')).toBe('grep');
    expect(getOne(first!, 'Exclude')).toBe(`${raw} ${CREDENTIAL_GUARD}`);
    const fd = parseFluentdConf(renderFluentd(input).files[0]!.text);
    const [guard] = find(fd, 'filter');
    expect(param(guard!, '@type')).toBe('grep');
    const exclude = guard!.children.find((c) => c.name === 'exclude')!;
    expect([param(exclude, 'key'), param(exclude, 'pattern')]).toEqual([raw, `/${CREDENTIAL_GUARD}/`]);
  });

  it('keeps ordinary lines: hashes, ids and short base64 pass the guard', () => {
    const ordinary = [
      'sha256 3f786850e387550fdab836ed7e6dc881de23001b3f786850e387550fdab836ed',
      '3f786850e387550fdab836ed7e6dc881de23001b3f786850e387550fdab836ed',
      'token=abc123 user=bob', 'payload dGhpcyBpcyBub3QgYSBrZXk=', '{"msg":"BEGIN transaction"}',
    ];
    const { fluentBit, fluentd } = recordsOf(streamInput('none', undefined), ordinary);
    expect(fluentBit.map((r) => r.log)).toEqual(ordinary);
    expect(fluentd.map((r) => r.log)).toEqual(ordinary);
  });
});
