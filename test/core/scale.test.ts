/**
 * Planning reads each of the pod's lists a bounded number of times, however many streams (32 at
 * most) read them: a pod declaring tens of thousands of containers, mounts or volumes once made
 * every stream walk them again (the mount search looked each mount's volume up in the whole volume
 * list, per stream: 70 s of /mutate for a 2.5 MB pod). These tests count reads, never time them.
 */
import { jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseStreams } from '../../webhook/core/annotations.js';
import type { Container, Pod, Volume, VolumeMount } from '../../webhook/core/pod.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { LISTED_CONTAINERS, resolvePlan } from '../../webhook/core/resolve.js';
import { mutateChecked as mutate } from '../helpers/checked.js';
import { basePod, withAnnotations } from '../helpers/fixtures.js';

const policy = parsePolicy(readFileSync(join(import.meta.dirname, '../golden/policy.yaml'), 'utf8'));
const streamsText = (n: number, line: (i: number) => string) => Array.from({ length: n }, (_, i) => `- ${line(i)}`).join('\n');

/** `list`, whose element reads are counted; more than `budget` reads throw (so a quadratic walk fails fast). */
function counted<T>(list: T[], budget: number): { list: T[]; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(list, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key) && ++reads > budget) throw new Error(`read more than ${budget} elements`);
      return Reflect.get(target, key, receiver);
    },
  });
  return { list: proxy, reads: () => reads };
}

describe('planning at scale', () => {
  it('finds each stream\'s log directory reading the mounts and volumes once, among 20,000 blocked ancestors', () => {
    const n = 20_000;
    const pod = basePod();
    const web = pod.spec.containers[0]!;
    const mounts = counted<VolumeMount>(Array.from({ length: n }, (_, i) => ({ name: `cm${i}`, mountPath: '/var/log' })), 3 * n);
    const volumes = counted<Volume>(Array.from({ length: n }, (_, i) => ({ name: `cm${i}`, configMap: { name: 'x' } }) as Volume), 3 * n);
    web.volumeMounts = mounts.list;
    pod.spec.volumes = volumes.list;
    const requested = parseStreams(streamsText(32, (i) => `{path: /var/log/app/d${i}/s.log, container: web, name: s${i}, mode: streaming}`)).streams;
    const plan = resolvePlan(pod, 'team-a', policy, requested, undefined);
    expect(plan.problems).toEqual([]);
    // /var/log is a configMap in every mount, so each directory gets a new volume of its own.
    expect(plan.logVolumes.map((v) => [v.name, v.isNew])).toEqual(Array.from({ length: 32 }, (_, i) => [`sidelog-logs-${i}`, true]));
    expect(plan.streamingStreams.map((s) => s.sidecarPath)).toEqual(Array.from({ length: 32 }, (_, i) => `/sidelog/logs/sidelog-logs-${i}/s.log`));
    expect(mounts.reads()).toBeLessThanOrEqual(3 * n);
    expect(volumes.reads()).toBeLessThanOrEqual(3 * n);
  });

  it('still blocks a directory that is itself a non-shareable mount, and shares the longest emptyDir ancestor', () => {
    const pod = basePod();
    const web = pod.spec.containers[0]!;
    web.volumeMounts = [
      ...Array.from({ length: 5_000 }, (_, i): VolumeMount => ({ name: `cm${i}`, mountPath: '/var/log/' })),
      { name: 'logs', mountPath: '/var/log/app/' },
      { name: 'cfg', mountPath: '/var/log/cfg' },
    ];
    pod.spec.volumes = [...Array.from({ length: 5_000 }, (_, i) => ({ name: `cm${i}`, configMap: { name: 'x' } }) as Volume), { name: 'logs', emptyDir: {} }, { name: 'cfg', configMap: { name: 'x' } }];
    const requested = parseStreams(streamsText(2, (i) => (i === 0 ? '{path: /var/log/app/x/a.log, container: web, mode: streaming}' : '{path: /var/log/cfg/b.log, container: web, mode: streaming}'))).streams;
    const plan = resolvePlan(pod, 'team-a', policy, requested, undefined);
    expect(plan.streamingStreams.map((s) => s.sidecarPath)).toEqual(['/sidelog/logs/logs/x/a.log']);
    expect(plan.problems).toEqual([{ field: 'sidelog.io/streams[1].path', message: expect.stringMatching(/^\/var\/log\/cfg is a configMap volume \("cfg"\)/) }]);
  });

  it('derives names past 40,000 clashing containers without each stream starting the search again', () => {
    const n = 40_000;
    const text = streamsText(4, (i) => `{path: /var/log/app/d${i}/a.log, container: web, mode: streaming}`);
    const pod = withAnnotations(basePod(), { 'sidelog.io/streams': text });
    const clash = Array.from({ length: n }, (_, i): Container => ({ name: `sidelog-a-${i + 2}`, image: 'x' }));
    pod.spec.containers.push(...clash);
    const requested = parseStreams(text).streams;
    const has = jest.spyOn(Set.prototype, 'has');
    let plan;
    try {
      plan = resolvePlan(pod, 'team-a', policy, requested, undefined);
    } finally {
      has.mockRestore();
    }
    // "a" is free as a stream name (sidelog-a is not taken); the next three walk past sidelog-a-2 ... sidelog-a-40001 once in all.
    expect(plan.streamingStreams.map((s) => s.name)).toEqual(['a', `a-${n + 2}`, `a-${n + 3}`, `a-${n + 4}`]);
    expect(has.mock.calls.length).toBeLessThan(3 * n);
    const r = mutate({ object: pod, namespace: 'team-a', policy, kubeVersion: { major: 1, minor: 30 } });
    expect(r.injection?.streams.map((s) => s.name)).toEqual(['a', `a-${n + 2}`, `a-${n + 3}`, `a-${n + 4}`]);
  });

  it.each([
    ['names a container the pod does not have', '{path: /var/log/app/a.log, container: nope}', /^no container named "nope" \(containers: web, worker, c0, c1, .*, c17, \.\.\. and 39982 more\)$/],
    ['names no container', '{path: /var/log/app/a.log}', /^required: the pod has 40002 containers \(web, worker, c0, .*, c17, \.\.\. and 39982 more\)$/],
  ])('lists at most %#: 20 container names when a stream %s among 40,002', (_, line, message) => {
    const pod = basePod();
    pod.spec.containers.push(...Array.from({ length: 40_000 }, (_, i): Container => ({ name: `c${i}`, image: 'x' })));
    const plan = resolvePlan(pod, 'team-a', policy, parseStreams(streamsText(32, () => line)).streams, undefined);
    expect(plan.problems).toHaveLength(32);
    for (const p of plan.problems) expect(p.message).toMatch(message);
    expect(plan.problems[0]!.message.split(', ')).toHaveLength(LISTED_CONTAINERS + 1);
  });

  it('lists every container name when there are at most 20', () => {
    const pod = basePod();
    pod.spec.containers.push(...Array.from({ length: 18 }, (_, i): Container => ({ name: `c${i}`, image: 'x' })));
    const plan = resolvePlan(pod, 'team-a', policy, parseStreams('- {path: /var/log/app/a.log}').streams, undefined);
    expect(plan.problems.map((p) => p.message)).toEqual([`required: the pod has 20 containers (web, worker, ${Array.from({ length: 18 }, (_, i) => `c${i}`).join(', ')})`]);
  });
});
