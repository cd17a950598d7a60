import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Container, Pod } from '../../webhook/core/pod.js';
import { basePod } from './fixtures.js';
import { checkPodInvariants, compareQuantities, isQualifiedName, podViolations, quantityValue } from './invariants.js';

/** A sidecar injection as the webhook would do it. */
function injected(): Pod {
  const pod = basePod();
  pod.metadata!.annotations!['sidelog.io/injected'] = 'fluent-bit';
  pod.spec.volumes!.push({ name: 'sidelog-config', emptyDir: { sizeLimit: '8Mi' } });
  pod.spec.initContainers = [{
    name: 'sidelog-agent',
    image: 'fluent/fluent-bit:4.2.0',
    restartPolicy: 'Always',
    env: [{ name: 'SIDELOG_NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    volumeMounts: [{ name: 'app-logs', mountPath: '/var/log/app', readOnly: true }, { name: 'sidelog-config', mountPath: '/fluent-bit/etc' }],
  }];
  return pod;
}

/** The violations of a pod changed by `breakIt`, with a patch that faithfully produces it. */
function violationsAfter(breakIt: (pod: Pod) => void): string[] {
  const original = basePod();
  const mutated = basePod();
  breakIt(mutated);
  return checkPodInvariants(original, mutated, fastJsonPatch.compare(original, mutated));
}

const web = (pod: Pod): Container => pod.spec.containers[0]!;
const worker = (pod: Pod): Container => pod.spec.containers[1]!;

describe('checkPodInvariants', () => {
  it('accepts the base pod unchanged and a faithful sidecar injection', () => {
    expect(checkPodInvariants(basePod(), basePod(), [])).toEqual([]);
    const mutated = injected();
    expect(checkPodInvariants(basePod(), mutated, fastJsonPatch.compare(basePod(), mutated))).toEqual([]);
  });

  it('reports a patch that does not apply', () => {
    const patch: Operation[] = [{ op: 'replace', path: '/spec/nodeSelector/disk', value: 'ssd' }];
    expect(checkPodInvariants(basePod(), basePod(), patch)).toEqual([expect.stringMatching(/^patch does not apply/)]);
    expect(checkPodInvariants(basePod(), basePod(), [{ op: 'add', path: '/spec/containers/5', value: {} }])).toEqual([expect.stringMatching(/^patch does not apply/)]);
  });

  it('reports a patch whose result is not the mutated pod, with where they differ', () => {
    const mutated = injected();
    const patch = fastJsonPatch.compare(basePod(), mutated).filter((op) => !op.path.startsWith('/metadata'));
    expect(checkPodInvariants(basePod(), mutated, patch)).toEqual(['patch result differs from the mutated pod at /metadata/annotations/sidelog.io~1injected (nothing vs "fluent-bit")']);
  });

  it('compares as JSON: a property set to undefined is no property', () => {
    const mutated = basePod();
    web(mutated).args = undefined;
    expect(checkPodInvariants(basePod(), mutated, [])).toEqual([]);
  });

  it.each<[string, (pod: Pod) => void, RegExp]>([
    ['duplicate container names across lists', (p) => { p.spec.initContainers = [{ name: 'web', image: 'x', restartPolicy: 'Always' }]; }, /container name "web" is not unique/],
    ['a duplicate ephemeral container name', (p) => { p.spec.ephemeralContainers = [{ name: 'worker', image: 'x' }]; }, /container name "worker" is not unique/],
    ['a container name that is not a DNS-1123 label', (p) => { web(p).name = 'Web_1'; }, /container name "Web_1" is not a DNS-1123 label/],
    ['a container name over 63 characters', (p) => { worker(p).name = 'w'.repeat(64); }, /container name "w{64}" is not a DNS-1123 label/],
    ['duplicate volume names', (p) => { p.spec.volumes!.push({ name: 'tmp', emptyDir: {} }); }, /volume name "tmp" is not unique/],
    ['a volume name that is not a DNS-1123 label', (p) => { p.spec.volumes!.push({ name: 'sidelog.config', emptyDir: {} }); }, /volume name "sidelog.config" is not a DNS-1123 label/],
    ['a mount of a missing volume', (p) => { worker(p).volumeMounts!.push({ name: 'app-logs-2', mountPath: '/logs' }); }, /container "worker": volumeMount "app-logs-2" names no volume/],
    ['a mountPath used twice in one container', (p) => { web(p).volumeMounts!.push({ name: 'tmp', mountPath: '/var/log/app' }); }, /container "web": mountPath "\/var\/log\/app" is used twice/],
    ['a relative mountPath', (p) => { worker(p).volumeMounts!.push({ name: 'tmp', mountPath: 'tmp' }); }, /container "worker": mountPath "tmp" is not absolute/],
    ['restartPolicy on a regular container', (p) => { worker(p).restartPolicy = 'Always'; }, /container "worker": restartPolicy "Always" is only allowed/],
    ['restartPolicy other than Always on an init container', (p) => { p.spec.initContainers = [{ name: 'init', image: 'x', restartPolicy: 'OnFailure' }]; }, /initContainer "init": restartPolicy "OnFailure"/],
    ['an invalid request quantity', (p) => { web(p).resources!.requests!.memory = '256MB'; }, /container "web": resources.requests.memory: "256MB" is not a valid quantity/],
    ['an invalid limit quantity', (p) => { web(p).resources!.limits!.cpu = '1 core'; }, /resources.limits.cpu: "1 core" is not a valid quantity/],
    ['a negative quantity', (p) => { worker(p).resources!.requests!.cpu = '-100m'; }, /resources.requests.cpu: -100m must not be negative/],
    ['a request above its limit', (p) => { web(p).resources!.requests!.memory = '0.6Gi'; }, /container "web": resources.requests.memory 0.6Gi exceeds the limit 512Mi/],
    ['an invalid emptyDir sizeLimit', (p) => { p.spec.volumes![0]!.emptyDir!.sizeLimit = '1GB'; }, /volume "app-logs" emptyDir.sizeLimit: "1GB" is not a valid quantity/],
    ['an invalid env var name', (p) => { web(p).env!.push({ name: '1LOG', value: 'x' }); }, /container "web": env name "1LOG" is not a valid/],
    ['an env var name with "="', (p) => { web(p).env!.push({ name: 'A=B', value: 'x' }); }, /env name "A=B"/],
    ['a duplicate env var', (p) => { worker(p).env!.push({ name: 'POD_NAME', value: 'x' }); }, /container "worker": env "POD_NAME" is defined twice/],
    ['an env fieldPath the API server does not support', (p) => { worker(p).env!.push({ name: 'LABELS', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } }); }, /env "LABELS": fieldPath "metadata.labels" is not supported/],
    ['an env fieldPath to an arbitrary spec field', (p) => { worker(p).env!.push({ name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.containers[0].image' } } }); }, /fieldPath "spec.containers\[0\].image" is not supported/],
    ['an env fieldRef with another apiVersion', (p) => { worker(p).env![0]!.valueFrom!.fieldRef!.apiVersion = 'v2'; }, /env "POD_NAME" fieldRef.apiVersion v2 is not v1/],
    ['a subscripted fieldPath with an invalid key', (p) => { worker(p).env!.push({ name: 'L', valueFrom: { fieldRef: { fieldPath: "metadata.labels['-bad-']" } } }); }, /has an invalid key/],
    ['a downwardAPI volume item using an env-only path', (p) => { p.spec.volumes!.push({ name: 'facts', downwardAPI: { items: [{ path: 'node', fieldRef: { fieldPath: 'spec.nodeName' } }] } }); }, /volume "facts" downwardAPI item "node": fieldPath "spec.nodeName" is not supported/],
    ['a downwardAPI item path with ..', (p) => { p.spec.volumes!.push({ name: 'facts', downwardAPI: { items: [{ path: 'a/../../etc', fieldRef: { fieldPath: 'metadata.name' } }] } }); }, /item path "a\/..\/..\/etc" must be a relative path/],
    ['an absolute downwardAPI item path', (p) => { p.spec.volumes!.push({ name: 'facts', downwardAPI: { items: [{ path: '/labels', fieldRef: { fieldPath: 'metadata.labels' } }] } }); }, /item path "\/labels" must be a relative path/],
    ['a projected downwardAPI item path starting with ..', (p) => { ((p.spec.volumes![2]!.projected as { sources: Array<{ downwardAPI?: { items: Array<{ path: string }> } }> }).sources[2]!.downwardAPI!.items[0]!.path = '..namespace'); }, /projected downwardAPI: item path "..namespace"/],
    ['an annotation key with two slashes', (p) => { p.metadata!.annotations!['sidelog.io/a/b'] = 'x'; }, /annotation key "sidelog.io\/a\/b" is not a valid qualified name/],
    ['an annotation key with an upper-case prefix', (p) => { p.metadata!.annotations!['Sidelog.io/x'] = 'x'; }, /annotation key "Sidelog.io\/x"/],
    ['an annotation name over 63 characters', (p) => { p.metadata!.annotations![`sidelog.io/${'a'.repeat(64)}`] = 'x'; }, /is not a valid qualified name/],
    ['a non-string annotation value', (p) => { (p.metadata!.annotations as Record<string, unknown>)['sidelog.io/n'] = 3; }, /annotation sidelog.io\/n has a non-string value 3/],
    ['annotations over 256 KiB', (p) => { p.metadata!.annotations!['sidelog.io/big'] = 'x'.repeat(256 * 1024); }, /annotations total \d+ bytes, over the 262144-byte limit/],
    ['an absolute subPath', (p) => { worker(p).volumeMounts!.push({ name: 'tmp', mountPath: '/x', subPath: '/etc' }); }, /volumeMount tmp subPath "\/etc" must be a relative path/],
    ['a subPath climbing out with ..', (p) => { worker(p).volumeMounts!.push({ name: 'tmp', mountPath: '/x', subPath: 'a/../..' }); }, /subPath "a\/..\/.." must be a relative path without/],
    ['both subPath and subPathExpr', (p) => { worker(p).volumeMounts!.push({ name: 'tmp', mountPath: '/x', subPath: 'a', subPathExpr: '$(POD_NAME)' }); }, /sets both subPath and subPathExpr/],
    ['seccompProfile on a container of a windows pod', (p) => { p.spec.os = { name: 'windows' }; p.spec.containers = [{ name: 'web', image: 'x', securityContext: { seccompProfile: { type: 'RuntimeDefault' } } }]; delete p.spec.securityContext; }, /container "web": securityContext.seccompProfile cannot be set for a windows pod/],
    ['capabilities on a windows pod\'s init container', (p) => { p.spec.os = { name: 'windows' }; p.spec.containers = [{ name: 'web', image: 'x' }]; p.spec.initContainers = [{ name: 'i', image: 'x', securityContext: { capabilities: { drop: ['ALL'] } } }]; delete p.spec.securityContext; }, /initContainer "i": securityContext.capabilities cannot be set for a windows pod/],
    ['runAsUser in a windows pod\'s securityContext', (p) => { p.spec.os = { name: 'windows' }; p.spec.containers = [{ name: 'web', image: 'x' }]; p.spec.securityContext = { runAsUser: 1000 }; }, /spec.securityContext.runAsUser cannot be set for a windows pod/],
    ['windowsOptions on a linux pod\'s container', (p) => { p.spec.os = { name: 'linux' }; web(p).securityContext = { ...web(p).securityContext, windowsOptions: { runAsUserName: 'x' } }; }, /container "web": securityContext.windowsOptions cannot be set for a linux pod/],
  ])('reports %s', (_what, breakIt, message) => {
    const violations = violationsAfter(breakIt);
    expect(violations).toEqual([expect.stringMatching(message)]);
  });

  it('counts annotation size in UTF-8 bytes, keys included, up to exactly 256 KiB', () => {
    const pod = basePod();
    pod.metadata!.annotations = { 'sidelog.io/big': 'é'.repeat((256 * 1024 - 'sidelog.io/big'.length) / 2) };
    expect(podViolations(pod)).toEqual([]);
    pod.metadata!.annotations['sidelog.io/big'] += 'x';
    expect(podViolations(pod)).toEqual([expect.stringMatching(/262145 bytes/)]);
  });
});

describe('quantities and names', () => {
  it('compares quantities exactly across suffixes', () => {
    expect(compareQuantities('1Gi', '1073741824')).toBe(0);
    expect(compareQuantities('1G', '1Gi')).toBe(-1);
    expect(compareQuantities('500m', '0.5')).toBe(0);
    expect(compareQuantities('1e3', '1k')).toBe(0);
    expect(compareQuantities('1E', '1e18')).toBe(0);
    expect(compareQuantities('100n', '1u')).toBe(-1);
    expect(compareQuantities('.5Ki', '512')).toBe(0);
    expect(compareQuantities('1.', '1')).toBe(0);
    expect(compareQuantities('+2', '-3')).toBe(1);
    expect(quantityValue('1Mb')).toBeUndefined();
    expect(quantityValue('')).toBeUndefined();
  });

  it('knows qualified names', () => {
    expect(['app', 'sidelog.io/streams', 'a.b-c/D_e.f', 'x'.repeat(63)].filter(isQualifiedName)).toHaveLength(4);
    expect(['', '/a', 'a/', '-a', 'a-', 'A.io/x', 'a/b/c', 'x'.repeat(64), `${'a'.repeat(254)}/x`].filter(isQualifiedName)).toEqual([]);
  });
});
