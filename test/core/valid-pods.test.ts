/**
 * Issue 8, "mutated pods are always valid pods": every name sidelog adds is unique against the
 * whole pod (ephemeral containers and names streams derive included); a clash drops that stream
 * with a warning. Pods sidelog cannot serve are skipped with a stable code and a warning. Every
 * mutation here goes through the API server's rules (mutateChecked, invariants.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANNOTATION_SIZE_LIMIT, annotationBytes } from '../../webhook/inject/mutate.js';
import type { Enforcement } from '../../webhook/inject/mutate.js';
import type { Pod } from '../../webhook/core/pod.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { SKIP_CODES } from '../../webhook/core/should-inject.js';
import { mutateChecked as mutate } from '../helpers/checked.js';
import { basePod, withAnnotations } from '../helpers/fixtures.js';
import { podViolations } from '../helpers/invariants.js';

const policy = parsePolicy(readFileSync(join(import.meta.dirname, '../golden/policy.yaml'), 'utf8'));
const v130 = { major: 1, minor: 30 };

function run(streams: string, pod: Pod = basePod(), enforcement: Enforcement = 'enabled', kubeVersion = v130) {
  return mutate({ object: withAnnotations(pod, { 'sidelog.io/streams': streams }), namespace: 'team-a', policy, enforcement, kubeVersion });
}
const containerNames = (p: unknown) => {
  const spec = (p as Pod).spec;
  return [...spec.containers, ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])].map((c) => c.name);
};

describe('names sidelog adds', () => {
  it.each([['native sidecars', v130], ['classic sidecars', { major: 1, minor: 28 }]] as const)(
    'a stream whose file is agent.log never clashes with the agent sidecar (%s)',
    (_what, kubeVersion) => {
      const r = run('- {path: /var/log/x/agent.log, container: web}\n- {path: /var/log/app/app.log, container: web, output: stdout}', basePod(), 'enabled', kubeVersion);
      expect(r.injection?.streams.map((s) => s.name)).toEqual(['agent-2', 'app']);
      const names = containerNames(r.mutated);
      expect(names.filter((n) => n.startsWith('sidelog-')).sort()).toEqual(['sidelog-agent', 'sidelog-agent-2']);
      expect(new Set(names).size).toBe(names.length);
    },
  );

  it('drops a stream explicitly named agent, with a warning naming it, and injects the rest', () => {
    const r = run('- {path: /var/log/x/x.log, container: web, name: agent}\n- {path: /var/log/app/app.log, container: web, output: stdout}');
    expect(r.injection?.streams.map((s) => s.name)).toEqual(['app']);
    expect(r.warnings).toEqual(['sidelog: sidelog.io/streams[0].name: "agent": its sidecar would be named sidelog-agent, the agent sidecar\'s name; this stream is not injected (choose another name)']);
  });

  it.each<[string, (p: Pod) => void]>([
    ['a container', (p) => p.spec.containers.push({ name: 'sidelog-app', image: 'x' })],
    ['an init container', (p) => { p.spec.initContainers = [{ name: 'sidelog-app', image: 'x' }]; }],
    ['an ephemeral container', (p) => { p.spec.ephemeralContainers = [{ name: 'sidelog-app', image: 'x' }]; }],
  ])('avoids the sidecar name of %s the pod already has', (_what, change) => {
    const pod = basePod();
    change(pod);
    // A derived name moves on to the next free one...
    const derived = run('- {path: /var/log/app/app.log, container: web}', pod);
    expect(derived.injection?.streams.map((s) => s.name)).toEqual(['app-2']);
    expect(derived.warnings).toEqual([]);
    // ...an explicit one is the author's choice: that stream is dropped, the others are injected.
    const explicit = run('- {path: /var/log/app/app.log, container: web, name: app}\n- {path: /var/log/app/b.log, container: web}', pod);
    expect(explicit.injection?.streams.map((s) => s.name)).toEqual(['b']);
    expect(explicit.warnings).toEqual(['sidelog: sidelog.io/streams[0].name: "app": its sidecar would be named sidelog-app, and the pod already has a container of that name; this stream is not injected (choose another name)']);
  });

  it('does not run the agent when an ephemeral container holds its name', () => {
    const pod = basePod();
    pod.spec.ephemeralContainers = [{ name: 'sidelog-agent', image: 'busybox' }];
    const r = run('- {path: /var/log/app/a.log, container: web, output: stdout}\n- {path: /var/log/app/b.log, container: web}', pod);
    expect(r.injection?.streams.map((s) => s.name)).toEqual(['b']);
    expect(r.warnings).toEqual(['sidelog: spec.containers: a container named sidelog-agent already exists, so the agent sidecar cannot run; agent-mode streams not injected: a (sidelog.io/streams[0])']);
  });

  it('never takes a log volume name the pod already has', () => {
    const pod = basePod();
    pod.spec.volumes!.push({ name: 'sidelog-logs-0', emptyDir: {} });
    const r = run('- {path: /srv/a/a.log, container: web}', pod);
    expect((r.mutated as Pod).spec.volumes!.map((v) => v.name).filter((n) => n.startsWith('sidelog-logs'))).toEqual(['sidelog-logs-0', 'sidelog-logs-1']);
  });
});

describe('pods sidelog cannot serve', () => {
  const windowsPod = (): Pod => {
    const pod = basePod();
    pod.spec.os = { name: 'windows' };
    delete pod.spec.securityContext;
    for (const c of pod.spec.containers) delete c.securityContext;
    return pod;
  };

  it.each<Enforcement>(['enabled', 'required'])('skips a Windows pod with code windows and a warning (%s)', (enforcement) => {
    const pod = windowsPod();
    expect(podViolations(pod)).toEqual([]);
    const r = run('- {path: /var/log/app/a.log, container: web, output: stdout}', pod, enforcement);
    expect(r.allowed).toBe(true);
    expect(r.patch).toEqual([]);
    expect(r.skip?.code).toBe('windows');
    expect(r.warnings).toEqual([expect.stringMatching(/^sidelog: not injected: spec\.os\.name is windows: .*seccompProfile, capabilities, readOnlyRootFilesystem/)]);
  });

  it('would otherwise have made a pod the API server refuses', () => {
    // The same request on the same pod, with os unset for sidelog but set for the API server's check.
    const pod = windowsPod();
    delete pod.spec.os;
    const r = mutate({ object: withAnnotations(pod, { 'sidelog.io/streams': '- {path: /var/log/app/a.log, container: web}' }), namespace: 'team-a', policy, kubeVersion: v130 });
    const asWindows = structuredClone(r.mutated) as Pod;
    asWindows.spec.os = { name: 'windows' };
    expect(podViolations(asWindows)).toEqual(expect.arrayContaining([expect.stringMatching(/initContainer "sidelog-a": securityContext.seccompProfile cannot be set for a windows pod/)]));
  });

  it('skips a Windows HostProcess pod', () => {
    const pod = basePod();
    pod.spec.securityContext = { windowsOptions: { hostProcess: true } };
    expect(run('- {path: /var/log/app/a.log, container: web}', pod).skip?.code).toBe('windows');
  });

  it('skips with code annotations-too-large when its config would push the annotations over 256 KiB', () => {
    const pod = basePod();
    const room = ANNOTATION_SIZE_LIMIT - annotationBytes(withAnnotations(pod, { 'sidelog.io/streams': '' }).metadata!.annotations!);
    pod.metadata!.annotations!['kubectl.kubernetes.io/last-applied-configuration'] = 'x'.repeat(room - 2000);
    const streams = '- {path: /var/log/app/a.log, container: web, output: kafka-logs}';
    const r = run(streams, pod, 'required');
    expect(r.allowed).toBe(true);
    expect(r.patch).toEqual([]);
    expect(r.skip?.code).toBe('annotations-too-large');
    expect(r.warnings.at(-1)).toMatch(/^sidelog: not injected: the pod's annotations would total \d+ bytes with sidelog's config and status, over the API server's 262144-byte limit/);

    // A streaming stream adds only the status: it fits, and the pod is valid (mutateChecked).
    const small = run('- {path: /var/log/app/a.log, container: web}', pod);
    expect(small.injection?.streams).toHaveLength(1);
    expect(annotationBytes((small.mutated as Pod).metadata!.annotations!)).toBeLessThanOrEqual(ANNOTATION_SIZE_LIMIT);
  });

  it('counts annotation bytes as the API server does: UTF-8 bytes of keys and values', () => {
    expect(annotationBytes({ 'a/é': 'ü🙂' })).toBe(4 + 2 + 4);
  });
});

describe('docs/skip-codes.md', () => {
  const doc = readFileSync(join(import.meta.dirname, '../../docs/skip-codes.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
  it('documents every skip code, once, in the order sidelog checks them, and no other', () => {
    expect(documented).toEqual([...SKIP_CODES]);
  });
});
