/**
 * The render memo (webhook/inject/render-memo.ts): one rendering per distinct input, keyed by every
 * field the renderer is given, one memo per policy version, bounded by bytes, frozen results.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderFluentBit } from '../../sidecar-templates/fluent-bit/index.js';
import type { AgentRender, AgentRenderInput } from '../../sidecar-templates/types.js';
import { mutate } from '../../webhook/inject/mutate.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { createRenderMemo, renderKey, renderMemo } from '../../webhook/inject/render-memo.js';
import { basePod } from '../helpers/fixtures.js';

const ROOT = join(import.meta.dirname, '../..');
const policyText = readFileSync(join(ROOT, 'test/golden/policy.yaml'), 'utf8');
const policy = parsePolicy(policyText, 'policy.yaml');

function input(over: Partial<AgentRenderInput> = {}): AgentRenderInput {
  return {
    defaults: policy.defaults,
    flushSeconds: 5,
    namespace: 'team-a',
    streams: [
      {
        index: 0, name: 'app', container: 'web', appPath: '/var/log/app/app.log', sidecarPath: '/sidelog/logs/sidelog-logs-0/app.log',
        parser: 'json', critical: false, outputName: 'stdout', output: { type: 'stdout' } as AgentRenderInput['streams'][number]['output'],
      },
    ],
    ...over,
  };
}

/** A renderer that counts its calls. */
function counting(render: (i: AgentRenderInput) => AgentRender = renderFluentBit) {
  const calls = { n: 0 };
  return { calls, render: (i: AgentRenderInput) => (calls.n++, render(i)) };
}

describe('render memo', () => {
  it('renders an input once and gives the same frozen rendering after', () => {
    const memo = createRenderMemo();
    const r = counting();
    const a = memo.render('fluent-bit', r.render, input());
    const b = memo.render('fluent-bit', r.render, input());
    expect(r.calls.n).toBe(1);
    expect(b).toBe(a);
    expect(a).toEqual(renderFluentBit(input()));
    expect(Object.isFrozen(a) && Object.isFrozen(a.files) && Object.isFrozen(a.files[0]) && Object.isFrozen(a.command)).toBe(true);
    expect(() => (a.command as string[]).push('--evil')).toThrow(TypeError);
  });

  it('renders again when any field of the input changes, the agent included', () => {
    const memo = createRenderMemo();
    const r = counting();
    const variants: AgentRenderInput[] = [
      input(),
      input({ flushSeconds: 6 }),
      input({ namespace: 'team-b' }),
      input({ streams: [{ ...input().streams[0]!, critical: true }] }),
      input({ streams: [{ ...input().streams[0]!, output: { type: 'stdout', fluentdImage: 'x:1' } as AgentRenderInput['streams'][number]['output'] }] }),
      // A pod fact a later renderer is given is in the key without a change to the memo.
      { ...input(), runAsUser: 1000 } as AgentRenderInput,
    ];
    for (const v of variants) memo.render('fluent-bit', r.render, v);
    memo.render('fluentd', r.render, input());
    expect(r.calls.n).toBe(variants.length + 1);
    expect(new Set(variants.map((v) => renderKey('fluent-bit', v))).size).toBe(variants.length);
  });

  it('keeps one memo per policy version: new defaults (a reload) render again, even when equal', () => {
    const memo = createRenderMemo();
    const r = counting();
    const reloaded = parsePolicy(policyText, 'policy.yaml');
    expect(reloaded.defaults).toEqual(policy.defaults);
    memo.render('fluent-bit', r.render, input());
    memo.render('fluent-bit', r.render, input({ defaults: reloaded.defaults }));
    expect(r.calls.n).toBe(2);
    expect(memo.stats(reloaded.defaults).entries).toBe(1);
  });

  it('does not remember a renderer that throws', () => {
    const memo = createRenderMemo();
    let n = 0;
    const failing = () => {
      n++;
      throw new Error('refusing to render');
    };
    expect(() => memo.render('fluent-bit', failing, input())).toThrow('refusing');
    expect(() => memo.render('fluent-bit', failing, input())).toThrow('refusing');
    expect(n).toBe(2);
    expect(memo.stats(policy.defaults).entries).toBe(0);
  });

  it('stays within its byte bound, dropping the least recently used', () => {
    const one = createRenderMemo();
    one.render('fluent-bit', renderFluentBit, input());
    const size = one.stats(policy.defaults).bytes;
    expect(size).toBeGreaterThan(2 * renderFluentBit(input()).files[0]!.text.length);

    const memo = createRenderMemo(Math.floor(size * 3.5));
    const r = counting();
    const ns = (n: number) => input({ namespace: `ns-${n}` });
    for (const n of [1, 2, 3]) memo.render('fluent-bit', r.render, ns(n));
    memo.render('fluent-bit', r.render, ns(1)); // 1 is now the most recently used
    memo.render('fluent-bit', r.render, ns(4)); // 2 goes
    expect(memo.stats(policy.defaults).bytes).toBeLessThanOrEqual(Math.floor(size * 3.5));
    expect(memo.stats(policy.defaults).entries).toBe(3);
    r.calls.n = 0;
    for (const n of [1, 3, 4]) memo.render('fluent-bit', r.render, ns(n));
    expect(r.calls.n).toBe(0);
    memo.render('fluent-bit', r.render, ns(2));
    expect(r.calls.n).toBe(1);
  });

  it('hashes keys longer than V8 hashes in full, still one key per input', () => {
    const long = (c: string) => input({ namespace: c.repeat(20_000) });
    const a = renderKey('fluent-bit', long('a'));
    const b = renderKey('fluent-bit', long('b'));
    expect(a).toMatch(/^sha256:/);
    expect(a.length).toBeLessThan(100);
    expect(a).not.toBe(b);
    expect(renderKey('fluent-bit', input())).toContain('"namespace":"team-a"');
  });

  it('serves mutate: pods of one workload share one rendering', () => {
    const fresh = parsePolicy(policyText, 'policy.yaml');
    const pod = (hash: string) => {
      const p = basePod();
      p.metadata!.labels = { 'pod-template-hash': hash };
      p.metadata!.annotations = { 'sidelog.io/streams': '- {path: /var/log/app/app.log, container: web, output: stdout}' };
      return p;
    };
    const a = mutate({ object: pod('a'), namespace: 'team-a', policy: fresh, kubeVersion: { major: 1, minor: 30 } });
    const b = mutate({ object: pod('b'), namespace: 'team-a', policy: fresh, kubeVersion: { major: 1, minor: 30 } });
    expect(a.configs.length).toBeGreaterThan(0);
    expect(b.configs).toEqual(a.configs);
    expect(renderMemo.stats(fresh.defaults).entries).toBe(1);
  });
});
