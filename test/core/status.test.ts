/**
 * Issue 8, "only sidelog's own status skips injection": a missing, malformed or inconsistent
 * `sidelog.io/status` is no reason to skip; a status that claims sidecars the pod lacks is refused
 * in a required namespace; an injected pod seen again (re-invocation, replay) is still a no-op.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Enforcement } from '../../webhook/inject/mutate.js';
import type { Pod } from '../../webhook/core/pod.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { jest } from '@jest/globals';
import { STATUS_MAX_CHARS, readStatus } from '../../webhook/core/status.js';
import { mutateChecked as mutate } from '../helpers/checked.js';
import { basePod, withAnnotations } from '../helpers/fixtures.js';

const policy = parsePolicy(readFileSync(join(import.meta.dirname, '../golden/policy.yaml'), 'utf8'));
const v130 = { major: 1, minor: 30 };
const STREAMS = '- {path: /var/log/app/a.log, container: web}\n- {path: /var/log/app/b.log, container: web, output: stdout}';
const STREAMING_ONLY = '{"version":1,"native":true,"streams":[{"name":"a","mode":"streaming","container":"web"}]}';
const WITH_AGENT = '{"version":1,"agent":"fluent-bit","native":true,"streams":[{"name":"a","mode":"streaming","container":"web"},{"name":"b","mode":"agent","container":"web","output":"stdout"}]}';

function run(status: string | undefined, enforcement: Enforcement = 'enabled', kubeVersion = v130, pod: Pod = basePod()) {
  const annotations: Record<string, string> = { 'sidelog.io/streams': STREAMS, ...(status !== undefined ? { 'sidelog.io/status': status } : {}) };
  return mutate({ object: withAnnotations(pod, annotations), namespace: 'team-a', policy, enforcement, kubeVersion });
}

describe('readStatus', () => {
  const withSidecars = (containers: string[], volumes: string[], annotations: Record<string, string> = {}) => ({
    metadata: { annotations },
    spec: { containers: [{ name: 'web' }], initContainers: containers.map((name) => ({ name })), volumes: volumes.map((name) => ({ name })) },
  });
  it.each<[string, unknown, unknown, string]>([
    ['no status', undefined, withSidecars([], []), 'absent'],
    ['an empty string', '', withSidecars([], []), 'malformed'],
    ['a number', 3, withSidecars([], []), 'malformed'],
    ['not JSON', 'yes', withSidecars([], []), 'malformed'],
    ['an empty object', '{}', withSidecars([], []), 'malformed'],
    ['another version', STREAMING_ONLY.replace('"version":1', '"version":2'), withSidecars(['sidelog-a'], []), 'malformed'],
    ['no streams', '{"version":1,"native":true,"streams":[]}', withSidecars([], []), 'malformed'],
    ['a stream name that is no DNS label', STREAMING_ONLY.replace('"a"', '"A b"'), withSidecars(['sidelog-A b'], []), 'malformed'],
    ['a streaming sidecar the pod lacks', STREAMING_ONLY, withSidecars([], []), 'inconsistent'],
    ['a streaming sidecar the pod has', STREAMING_ONLY, withSidecars(['sidelog-a'], []), 'own'],
    ['an agent whose volumes are gone', WITH_AGENT, withSidecars(['sidelog-a', 'sidelog-agent'], [], { 'sidelog.io/agent-config': 'x' }), 'inconsistent'],
    ['an agent whose config annotation is gone', WITH_AGENT, withSidecars(['sidelog-a', 'sidelog-agent'], ['sidelog-config', 'sidelog-state']), 'inconsistent'],
    ['an agent that is all there', WITH_AGENT, withSidecars(['sidelog-a', 'sidelog-agent'], ['sidelog-config', 'sidelog-state'], { 'sidelog.io/agent-config': 'x' }), 'own'],
    ['a pod that is not an object', STREAMING_ONLY, 'pod', 'inconsistent'],
  ])('%s -> %s', (_what, status, pod, kind) => {
    expect(readStatus(status, pod).kind).toBe(kind);
  });

  it('refuses a status longer than any sidelog writes without parsing it, and parses one at the limit', () => {
    const pod = withSidecars(['sidelog-a'], []);
    const atLimit = STREAMING_ONLY + ' '.repeat(STATUS_MAX_CHARS - STREAMING_ONLY.length);
    const parse = jest.spyOn(JSON, 'parse');
    try {
      expect(readStatus(`${atLimit} `, pod)).toEqual({ kind: 'malformed', reason: `is ${STATUS_MAX_CHARS + 1} characters long, more than the ${STATUS_MAX_CHARS} of any status sidelog writes` });
      expect(parse).not.toHaveBeenCalled();
      expect(readStatus(atLimit, pod)).toEqual({ kind: 'own' });
    } finally {
      parse.mockRestore();
    }
    // Through mutate: a 3 MB status is ignored with that reason and replaced by sidelog's own.
    const r = run(STREAMING_ONLY + ' '.repeat(3_000_000));
    expect(r.injection?.streams.map((s) => s.name)).toEqual(['a', 'b']);
    expect(r.warnings).toEqual([expect.stringMatching(/^sidelog: sidelog\.io\/status is 3000089 characters long, more than the 65536 of any status sidelog writes; it is not sidelog's record and is ignored$/)]);
  });

  it('lists what is missing', () => {
    expect(readStatus(WITH_AGENT, withSidecars(['sidelog-a'], ['sidelog-state']))).toEqual({
      kind: 'inconsistent',
      missing: ['container sidelog-agent', 'volume sidelog-config', 'annotation sidelog.io/agent-config'],
    });
  });
});

describe('a status that is not sidelog\'s own', () => {
  it.each<[string, string | undefined, Enforcement]>([
    ['an empty status in a required namespace', '', 'required'],
    ['an empty status', '', 'enabled'],
    ['a status that is not JSON, in a required namespace', 'done', 'required'],
    ['{}', '{}', 'enabled'],
  ])('does not skip injection: %s', (_what, status, enforcement) => {
    const r = run(status, enforcement);
    expect(r.allowed).toBe(true);
    expect(r.skip).toBeUndefined();
    expect(r.injection?.streams.map((s) => s.name)).toEqual(['a', 'b']);
    expect(r.warnings).toEqual([expect.stringMatching(/^sidelog: sidelog\.io\/status is not (JSON|a status sidelog writes); it is not sidelog's record and is ignored$/)]);
    // Replaced by sidelog's own, which the next pass believes.
    const own = (r.mutated as Pod).metadata!.annotations!['sidelog.io/status'];
    expect(readStatus(own, r.mutated).kind).toBe('own');
  });

  it('refuses, in a required namespace, a status that claims sidecars the pod does not have', () => {
    const r = run(WITH_AGENT, 'required');
    expect(r.allowed).toBe(false);
    expect(r.patch).toEqual([]);
    expect(r.denial).toBe('sidelog: sidelog.io/status: claims sidecars the pod does not have (missing container sidelog-a, container sidelog-agent, volume sidelog-config, volume sidelog-state, annotation sidelog.io/agent-config), so it is not sidelog\'s record');
  });

  it('injects, in an enabled namespace, despite a status that claims sidecars the pod does not have, with a warning', () => {
    const r = run(STREAMING_ONLY, 'enabled');
    expect(r.injection?.streams.map((s) => s.name)).toEqual(['a', 'b']);
    expect(r.warnings).toEqual(['sidelog: sidelog.io/status: claims sidecars the pod does not have (missing container sidelog-a), so it is not sidelog\'s record']);
  });
});

describe('sidelog\'s own status', () => {
  it.each<[string, Enforcement, { major: number; minor: number }]>([
    ['native sidecars, enabled', 'enabled', v130],
    ['native sidecars, required', 'required', v130],
    ['classic sidecars, enabled', 'enabled', { major: 1, minor: 28 }],
    ['classic sidecars, required', 'required', { major: 1, minor: 28 }],
  ])('makes a second pass a no-op: %s', (_what, enforcement, kubeVersion) => {
    const first = run(undefined, enforcement, kubeVersion);
    expect(first.patch.length).toBeGreaterThan(0);
    const again = mutate({ object: first.mutated, namespace: 'team-a', policy, enforcement, kubeVersion });
    expect(again.patch).toEqual([]);
    expect(again.allowed).toBe(true);
    expect(again.skip?.code).toBe('already-injected');
  });

  it('stays a no-op when a later webhook added containers and volumes (reinvocationPolicy: IfNeeded)', () => {
    const first = run(undefined);
    const pod = structuredClone(first.mutated) as Pod;
    pod.spec.containers.push({ name: 'istio-proxy', image: 'istio/proxyv2' });
    pod.spec.volumes!.push({ name: 'istio-envoy', emptyDir: {} });
    expect(mutate({ object: pod, namespace: 'team-a', policy, enforcement: 'required', kubeVersion: v130 }).skip?.code).toBe('already-injected');
  });

  it('is not believed once a sidecar it names is removed; a required namespace refuses the pod', () => {
    const first = run(undefined);
    const pod = structuredClone(first.mutated) as Pod;
    pod.spec.initContainers = pod.spec.initContainers!.filter((c) => c.name !== 'sidelog-agent');
    const r = mutate({ object: pod, namespace: 'team-a', policy, enforcement: 'required', kubeVersion: v130 });
    expect(r.allowed).toBe(false);
    expect(r.denial).toContain('missing container sidelog-agent');
  });
});
