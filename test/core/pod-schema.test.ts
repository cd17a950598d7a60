/**
 * The pod schema checks what sidelog reads or writes, names the field when that is wrong, and
 * leaves everything else unread: a container's env (thousands of entries on some pods) is never walked.
 */
import { PodSchema } from '../../webhook/core/pod.js';
import { zodProblems } from '../../webhook/core/problems.js';

const pod = () => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', annotations: { 'sidelog.io/streams': '- path: /a/b' } },
  spec: {
    containers: [{ name: 'web', image: 'app:1', volumeMounts: [{ name: 'cache', mountPath: '/cache' }] }],
    initContainers: [{ name: 'init', restartPolicy: 'Always' }],
    ephemeralContainers: [{ name: 'debug' }],
    volumes: [{ name: 'cache', emptyDir: {} }],
  },
});
type P = ReturnType<typeof pod> & { spec: Record<string, unknown>; metadata: Record<string, unknown> };

function fields(change: (p: P) => void): string[] {
  const p = pod() as P;
  change(p);
  const r = PodSchema.safeParse(p);
  return r.success ? [] : zodProblems('pod', r.error).map((x) => x.field);
}

describe('PodSchema', () => {
  it('accepts a pod', () => {
    expect(fields(() => undefined)).toEqual([]);
  });

  it.each<[string, (p: P) => void, string]>([
    ['containers missing', (p) => delete (p.spec as { containers?: unknown }).containers, 'pod.spec.containers'],
    ['a container without a name', (p) => (p.spec.containers[0]!.name = ''), 'pod.spec.containers[0].name'],
    ['a mount without a path', (p) => ((p.spec.containers[0]!.volumeMounts![0] as { mountPath?: string }).mountPath = undefined), 'pod.spec.containers[0].volumeMounts[0].mountPath'],
    ['a mount subPath that is not a string', (p) => ((p.spec.containers[0]!.volumeMounts![0] as Record<string, unknown>).subPath = 3), 'pod.spec.containers[0].volumeMounts[0].subPath'],
    ['a mount readOnly that is not a boolean', (p) => ((p.spec.containers[0]!.volumeMounts![0] as Record<string, unknown>).readOnly = 'yes'), 'pod.spec.containers[0].volumeMounts[0].readOnly'],
    ['an init container restartPolicy that is not a string', (p) => ((p.spec.initContainers[0] as Record<string, unknown>).restartPolicy = 1), 'pod.spec.initContainers[0].restartPolicy'],
    ['an ephemeral container without a name', (p) => ((p.spec.ephemeralContainers[0] as Record<string, unknown>).name = 7), 'pod.spec.ephemeralContainers[0].name'],
    ['a volume without a name', (p) => ((p.spec.volumes[0] as Record<string, unknown>).name = undefined), 'pod.spec.volumes[0].name'],
    ['os.name not a string', (p) => (p.spec.os = { name: 1 }), 'pod.spec.os.name'],
    ['an unknown restartPolicy', (p) => (p.spec.restartPolicy = 'Sometimes'), 'pod.spec.restartPolicy'],
    ['a negative grace period', (p) => (p.spec.terminationGracePeriodSeconds = -1), 'pod.spec.terminationGracePeriodSeconds'],
    ['runAsUser not an integer', (p) => (p.spec.securityContext = { runAsUser: 1.5 }), 'pod.spec.securityContext.runAsUser'],
    ['hostProcess not a boolean', (p) => (p.spec.securityContext = { windowsOptions: { hostProcess: 'true' } }), 'pod.spec.securityContext.windowsOptions.hostProcess'],
    ['an annotation value not a string', (p) => ((p.metadata.annotations as Record<string, unknown>).x = 1), 'pod.metadata.annotations.x'],
  ])('names the field: %s', (_name, change, field) => {
    expect(fields(change)).toEqual([field]);
  });

  it('never reads a container env, however large or odd', () => {
    let reads = 0;
    const env: unknown[] = [];
    for (let i = 0; i < 1500; i++) Object.defineProperty(env, i, { enumerable: true, get: () => (reads++, { name: `V${i}` }) });
    expect(fields((p) => Object.assign(p.spec.containers[0]!, { env }))).toEqual([]);
    expect(reads).toBe(0);
    expect(fields((p) => Object.assign(p.spec.containers[0]!, { env: 'not a list' }))).toEqual([]);
  });

  it('passes other fields through unchanged', () => {
    const p = { ...pod(), status: { phase: 'Pending' } };
    const r = PodSchema.safeParse(p);
    expect(r.success && r.data).toMatchObject({ status: { phase: 'Pending' }, spec: { containers: [{ image: 'app:1' }] } });
  });
});
