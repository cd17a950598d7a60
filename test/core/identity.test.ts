/** Sidecars run as the user that writes the files (issue 7, item 10). */
import { sidecarIdentity } from '../../webhook/core/identity.js';
import type { Pod } from '../../webhook/core/pod.js';

const pod = (podSc: Record<string, unknown>, containers: Array<[string, Record<string, unknown>]>): Pod => ({
  spec: { securityContext: podSc, containers: containers.map(([name, securityContext]) => ({ name, securityContext })) },
});

describe('sidecarIdentity', () => {
  it.each([
    ['the writing container\'s user and group', pod({ runAsUser: 1000 }, [['db', { runAsUser: 999, runAsGroup: 998 }]]), { runAsUser: 999, runAsGroup: 998 }],
    ['the pod\'s user when the container sets none; no group forced to the UID', pod({ runAsUser: 1000, runAsGroup: 3000 }, [['web', {}]]), { runAsUser: 1000 }],
    ['the policy default when nobody sets a user', pod({}, [['web', {}]]), { runAsUser: 65532 }],
    ['never root: a 0 falls through to the pod, then the policy', pod({ runAsUser: 0 }, [['web', { runAsUser: 0 }]]), { runAsUser: 65532 }],
  ])('%s', (_, p, expected) => {
    const r = sidecarIdentity(p, ['db', 'web'].filter((n) => p.spec.containers.some((c) => c.name === n)), 65532);
    expect(r.identity).toEqual(expected);
    expect(r.warnings).toEqual([]);
  });

  it('warns when one agent reads files of containers running as different users', () => {
    const p = pod({ fsGroup: 2000 }, [['db', { runAsUser: 999 }], ['exporter', { runAsUser: 65534 }]]);
    const r = sidecarIdentity(p, ['db', 'exporter'], 65532);
    expect(r.identity).toEqual({ runAsUser: 999 });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/db \(runAsUser 999\), exporter \(runAsUser 65534\).*group or other read permission/);
  });
});
