import { formatKubeVersion, parseKubeVersion, useNativeSidecars } from '../../webhook/core/kube-version.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { problemText } from '../../webhook/core/problems.js';
import { isQuantity, parseQuantity } from '../../webhook/core/quantity.js';
import { sidecarResources } from '../../webhook/core/resources.js';
import { skipReason } from '../../webhook/core/should-inject.js';

describe('quantities', () => {
  it.each([['100m', 0.1], ['64Mi', 64 * 2 ** 20], ['1.5Gi', 1.5 * 2 ** 30], ['2', 2], ['1e3', 1000], ['500k', 500_000]])('%s = %d', (q, v) => {
    expect(parseQuantity(q)).toBeCloseTo(v);
  });
  it.each(['', 'Mi', '1 Gi', '1GB', '-', '1.2.3', '64mi'])('rejects %j', (q) => {
    expect(isQuantity(q)).toBe(false);
  });
});

describe('kube version', () => {
  it.each([
    ['1.30', '1.30', true],
    ['v1.29.4-gke.1043002', '1.29', true],
    ['1.28', '1.28', false],
    ['1.27+', '1.27', false],
    [undefined, 'unknown', false],
    ['banana', 'unknown', false],
  ])('%s -> %s, native under auto: %s', (text, shown, native) => {
    const v = parseKubeVersion(text);
    expect(formatKubeVersion(v)).toBe(shown);
    expect(useNativeSidecars('auto', v)).toBe(native);
  });
  it('obeys always and never', () => {
    expect(useNativeSidecars('always', undefined)).toBe(true);
    expect(useNativeSidecars('never', { major: 1, minor: 33 })).toBe(false);
  });
});

describe('skip filters', () => {
  const base = { operation: 'CREATE', kind: 'Pod', annotations: { 'sidelog.io/streams': '- path: /a/b' } };
  it.each([
    [{ operation: 'UPDATE' }, 'operation'],
    [{ kind: 'Deployment' }, 'kind'],
    [{ subResource: 'status' }, 'subresource'],
    [{ annotations: { ...base.annotations, 'sidelog.io/inject': 'false' } }, 'opted-out'],
    [
      {
        annotations: { ...base.annotations, 'sidelog.io/status': '{"version":1,"native":true,"streams":[{"name":"b","mode":"streaming","container":"web"}]}' },
        pod: { spec: { containers: [{ name: 'web' }], initContainers: [{ name: 'sidelog-b' }] } },
      },
      'already-injected',
    ],
    [{ annotations: {} }, 'not-requested'],
  ])('%j -> %s', (override, code) => {
    expect(skipReason({ ...base, ...override })?.code).toBe(code);
  });
  it('lets a requesting pod through', () => {
    expect(skipReason(base)).toBeUndefined();
  });
  it.each(['', '{}', 'x', '{"version":1,"native":true,"streams":[{"name":"b","mode":"streaming","container":"web"}]}'])('does not skip for a status that is not sidelog\'s own: %j', (status) => {
    // The last one is well-formed, but the pod has no sidelog-b container.
    expect(skipReason({ ...base, annotations: { ...base.annotations, 'sidelog.io/status': status }, pod: { spec: { containers: [{ name: 'web' }] } } })).toBeUndefined();
  });
});

describe('sidecar resources', () => {
  const defaults = parsePolicy('').defaults;
  it('uses the policy defaults with no annotation', () => {
    expect(sidecarResources(defaults, undefined).resources.streaming).toEqual({ requests: { cpu: '5m', memory: '16Mi' }, limits: { memory: '32Mi' } });
  });
  it('merges what the pod asks within the maxima', () => {
    const r = sidecarResources(defaults, 'agent: {limits: {memory: 512Mi, cpu: 500m}}');
    expect(r.problems).toEqual([]);
    expect(r.resources.agent).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '512Mi', cpu: '500m' } });
  });
  it.each([
    ['agent: {limits: {memory: 8Gi}}', 'sidelog.io/resources.agent.limits.memory: 8Gi exceeds the policy maximum 1Gi; the default is used'],
    ['streaming: {requests: {memory: 64Mi}}', 'sidelog.io/resources.streaming.requests.memory: 64Mi exceeds the limit 32Mi; the default is used'],
    ['agent: {limits: {memory: lots}}', 'sidelog.io/resources.agent.limits.memory: must be a Kubernetes quantity such as 100m or 128Mi'],
    ['agent: {limits: {gpu: 1}}', 'sidelog.io/resources.agent.limits.gpu: unknown field'],
  ])('%s -> %s', (annotation, message) => {
    const r = sidecarResources(defaults, annotation);
    expect(r.problems.map(problemText)).toEqual([message]);
    expect(r.resources.agent).toEqual(sidecarResources(defaults, undefined).resources.agent);
  });
});
