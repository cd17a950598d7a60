/**
 * The computed limits, read back from the generated configs (not from budget.ts): for every output
 * type x agent with critical on, and for pods of many streams, everything on the buffer volume fits
 * its emptyDir sizeLimit and everything held in memory fits the agent's memory limit
 * (docs/pipelines.md "Memory and disk arithmetic"). A long outage then fills the buffers up to their
 * limits and no further: the pod is never evicted for disk, the agent never OOM-killed for buffers.
 */
import { renderFluentBit } from '../sidecar-templates/fluent-bit/index.js';
import { renderFluentd } from '../sidecar-templates/fluentd/index.js';
import type { AgentRenderInput, AgentStream } from '../sidecar-templates/types.js';
import { OUTPUT_TYPES, OutputSchema, type OutputType, policyFromObject } from '../webhook/core/policy.js';
import { get, parseFluentBitConf, sectionsNamed } from './helpers/fluent-bit-conf.js';
import { find, param, parseFluentdConf } from './helpers/fluentd-conf.js';

const MIB = 2 ** 20;
const OUTPUTS: Record<OutputType, Record<string, unknown>> = {
  forward: { type: 'forward', host: 'agg', tls: true },
  kafka: { type: 'kafka', brokers: ['k:9093'], tls: true },
  elasticsearch: { type: 'elasticsearch', host: 'es' },
  loki: { type: 'loki', host: 'loki' },
  http: { type: 'http', host: 'h' },
  s3: { type: 's3', bucket: 'bkt', region: 'eu-west-1' },
  stackdriver: { type: 'stackdriver' },
  cloudwatch: { type: 'cloudwatch', region: 'us-east-1' },
  syslog: { type: 'syslog', host: 's', protocol: 'tls' },
  stdout: { type: 'stdout' },
};

/** Fluent Bit / Fluentd size strings: `12M` / `12m` are MiB, `64k` KiB (both agents use powers of 1024). */
function bytes(size: string): number {
  const m = /^(\d+)([kKmMgG])?[bB]?$/.exec(size);
  if (!m) throw new Error(`unreadable size ${size}`);
  return Number(m[1]) * ({ k: 2 ** 10, m: MIB, g: 2 ** 30 }[(m[2] ?? '').toLowerCase()] ?? 1);
}
const quantityBytes = (q: string) => bytes(q.replace(/i$/, ''));

/** One chunk of overshoot per bounded area (a chunk file is written before its limit is checked), plus a tenth of the volume. */
const volumeHeadroom = (size: number, bounds: number) => Math.max(16 * MIB, Math.ceil(size / MIB / 10) * MIB) + 2 * MIB * bounds;
/** What each agent needs besides its buffers: process base and per-stream read buffers. */
const BASE = { 'fluent-bit': 32 * MIB, fluentd: 96 * MIB };
const PER_STREAM = 2 * MIB;

function streams(types: readonly OutputType[], critical: boolean): AgentStream[] {
  return types.map((t, i) => ({
    index: i, name: `s${i}`, container: 'web', appPath: `/var/log/app/s${i}.log`, sidecarPath: `/sidelog/logs/v/s${i}.log`,
    // Placeholders filled in as admission does (resolve.ts).
    parser: 'json', critical, outputName: `o${i}`, output: OutputSchema.parse({ ...OUTPUTS[t], ...(t === 'forward' ? { tag: `sidelog.team-a.s${i}` } : t === 'stackdriver' ? { logName: `team-a.s${i}` } : {}) }),
  }));
}

function input(s: AgentStream[], memory: string, bufferSize: string): AgentRenderInput {
  return { streams: s, defaults: policyFromObject({ defaults: { bufferSize } }).defaults, flushSeconds: 20, namespace: 'team-a', memoryLimit: memory };
}

/** Disk and memory a Fluent Bit config may use at most, read from its text. */
function fluentBitUse(text: string): { disk: number; bounds: number; memory: number } {
  const conf = parseFluentBitConf(text);
  const [service] = sectionsNamed(conf, 'SERVICE');
  let disk = 0;
  let bounds = 0;
  let memory = 0;
  for (const o of sectionsNamed(conf, 'OUTPUT')) {
    for (const v of [...get(o, 'storage.total_limit_size'), ...get(o, 'Store_Dir_Limit_Size')]) {
      disk += bytes(v);
      bounds++;
    }
    // librdkafka's queue lives in memory.
    for (const kb of get(o, 'rdkafka.queue.buffering.max.kbytes')) memory += Number(kb) * 1024;
  }
  for (const i of sectionsNamed(conf, 'INPUT')) for (const v of get(i, 'Mem_Buf_Limit')) memory += bytes(v);
  const chunksUp = get(service!, 'storage.max_chunks_up')[0];
  if (chunksUp) memory += Number(chunksUp) * 2 * MIB + bytes(get(service!, 'storage.backlog.mem_limit')[0]!);
  return { disk, bounds, memory };
}

/** Disk and memory a Fluentd config may use at most, read from its text. */
function fluentdUse(text: string): { disk: number; bounds: number; memory: number; maxForwardChunk: number } {
  const root = parseFluentdConf(text);
  let disk = 0;
  let bounds = 0;
  let memory = 0;
  let maxForwardChunk = 0;
  for (const m of find(root, 'match')) {
    const b = m.children.find((c) => c.name === 'buffer')!;
    const total = bytes(param(b, 'total_limit_size')!);
    const chunk = bytes(param(b, 'chunk_limit_size')!);
    if (param(b, '@type') === 'file') {
      bounds++;
      // fluent-plugin-s3 writes one gzip Tempfile of a chunk beside the buffer (TMPDIR).
      disk += total + (param(m, '@type') === 's3' ? chunk : 0);
      // S3 streams a chunk from its file; other outputs read the chunk being sent into memory.
      if (param(m, '@type') !== 's3') memory += chunk;
    } else {
      memory += total;
    }
    if (param(m, '@type') === 'forward') maxForwardChunk = Math.max(maxForwardChunk, chunk);
  }
  return { disk, bounds, memory, maxForwardChunk };
}

const MEMORY = ['128Mi', '256Mi', '1Gi'];
const VOLUMES = ['256Mi', '1Gi', '10Gi'];

describe.each(OUTPUT_TYPES.map((t) => [t]))('critical stream to %s', (type) => {
  it.each(MEMORY.flatMap((m) => VOLUMES.map((v) => [m, v])))('memory limit %s, buffer volume %s: Fluent Bit within both', (memory, volume) => {
    const i = input(streams([type], true), memory, volume);
    const use = fluentBitUse(renderFluentBit(i).files[0]!.text);
    expect(use.disk + volumeHeadroom(quantityBytes(volume), use.bounds)).toBeLessThanOrEqual(quantityBytes(volume));
    expect(use.bounds).toBeGreaterThanOrEqual(1);
    expect(use.memory + BASE['fluent-bit'] + PER_STREAM).toBeLessThanOrEqual(quantityBytes(memory));
  });

  it.each(MEMORY.flatMap((m) => VOLUMES.map((v) => [m, v])))('memory limit %s, buffer volume %s: Fluentd within both', (memory, volume) => {
    const i = input(streams([type], true), memory, volume);
    const use = fluentdUse(renderFluentd(i).files[0]!.text);
    expect(use.disk + volumeHeadroom(quantityBytes(volume), use.bounds)).toBeLessThanOrEqual(quantityBytes(volume));
    expect(use.bounds).toBe(1);
    expect(use.memory + BASE.fluentd + PER_STREAM).toBeLessThanOrEqual(quantityBytes(memory));
    expect(use.maxForwardChunk).toBeLessThan(6_144_000);
  });
});

describe('pods of many streams', () => {
  // Every output type, up to the 32 streams a pod may ask for, half of them critical.
  const mix = (n: number) => Array.from({ length: n }, (_, k) => OUTPUT_TYPES[k % OUTPUT_TYPES.length]!);
  const pods = [1, 3, 10, 32].flatMap((n) => MEMORY.map((m) => [n, m] as const));

  it.each(pods)('%i streams under %s: both agents fit a 1Gi buffer volume and the memory limit', (n, memory) => {
    const s = streams(mix(n), true).map((x, k) => ({ ...x, critical: k % 2 === 0 }));
    const i = input(s, memory, '1Gi');
    const fb = renderFluentBit(i);
    const fd = renderFluentd(i);
    const fbUse = fluentBitUse(fb.files[0]!.text);
    const fdUse = fluentdUse(fd.files[0]!.text);
    for (const use of [fbUse, fdUse]) expect(use.disk + volumeHeadroom(2 ** 30, use.bounds)).toBeLessThanOrEqual(2 ** 30);
    // The minimum (1 MiB a stream) may not fit a small limit: then admission says so.
    const fits = (agent: 'fluent-bit' | 'fluentd', used: number) => used + BASE[agent] + PER_STREAM * n <= quantityBytes(memory);
    for (const [agent, use, render] of [['fluent-bit', fbUse, fb], ['fluentd', fdUse, fd]] as const) {
      if (!fits(agent, use.memory)) expect([agent, render.warnings.some((w) => w.includes('memory limit'))]).toEqual([agent, true]);
      // From the default 256Mi up, every pod sidelog accepts (up to 32 streams) fits without warning.
      if (quantityBytes(memory) >= 256 * MIB) {
        expect([agent, fits(agent, use.memory)]).toEqual([agent, true]);
        expect(render.warnings.filter((w) => w.includes('memory limit'))).toEqual([]);
      }
    }
  });

  it('names what no longer fits instead of overcommitting silently', () => {
    const r = renderFluentd(input(streams(mix(32), true), '128Mi', '1Gi'));
    expect(r.warnings.find((w) => w.includes('memory limit'))).toMatch(/too small for 32 streams.*give it at least \d+Mi/);
  });
});
