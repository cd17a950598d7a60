import { basePod, withAnnotations } from './fixtures.js';
import { podViolations } from './invariants.js';
import { restrictedViolations } from './pss.js';

describe('basePod', () => {
  it('is a valid, restricted-compliant Deployment pod in team-a with the API server additions', () => {
    const pod = basePod();
    expect(podViolations(pod)).toEqual([]);
    expect(restrictedViolations(pod)).toEqual([]);
    expect(pod.metadata).toMatchObject({ namespace: 'team-a', generateName: expect.stringMatching(/^web-/) });
    expect(pod.metadata!.name).toBeUndefined();
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['web', 'worker']);
    const tokenMounts = pod.spec.containers.map((c) => c.volumeMounts!.find((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount'));
    expect(tokenMounts.map((m) => m && [m.name, m.readOnly])).toEqual([['kube-api-access-x7k2p', true], ['kube-api-access-x7k2p', true]]);
    expect(pod.spec.volumes!.find((v) => v.name === 'kube-api-access-x7k2p')).toHaveProperty('projected.sources');
    expect(pod.spec.containers[0]!.volumeMounts).toContainEqual({ name: 'app-logs', mountPath: '/var/log/app' });
  });

  it('returns a fresh deep copy each call', () => {
    const a = basePod();
    a.spec.containers[0]!.securityContext!.capabilities!.drop!.push('X');
    a.metadata!.annotations!.x = 'y';
    expect(basePod()).not.toEqual(a);
    expect(basePod().spec.containers[0]!.securityContext!.capabilities!.drop).toEqual(['ALL']);
  });
});

describe('withAnnotations', () => {
  it('adds and replaces annotations on a copy, leaving the input alone', () => {
    const pod = basePod();
    const annotated = withAnnotations(pod, { 'sidelog.io/agent': 'fluent-bit', 'kubectl.kubernetes.io/default-container': 'worker' });
    expect(annotated.metadata!.annotations).toEqual({ 'sidelog.io/agent': 'fluent-bit', 'kubectl.kubernetes.io/default-container': 'worker' });
    expect(pod).toEqual(basePod());
    annotated.spec.containers.pop();
    expect(pod.spec.containers).toHaveLength(2);
  });
});
