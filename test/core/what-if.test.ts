/**
 * The what-if core: `uninject` gives back the pod the webhook was sent (for every golden case),
 * and `compareWorkload` reports gained, lost and changed streams, refused outputs, new warnings
 * and denials, and the config diff.
 */
import { mutate } from '../../webhook/inject/mutate.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { compareWorkload, uninject } from '../../webhook/inject/what-if.js';
import { loadCases, podOf } from '../golden/harness.js';

describe('uninject', () => {
  // Every case except the ones whose input already carries a status (the webhook leaves those alone).
  const cases = loadCases().filter((c) => c.enforcement === 'enabled' && podOf(c.input).metadata?.annotations?.['sidelog.io/status'] === undefined);
  it.each(cases.map((c) => [c.name, c] as const))('%s: un-injecting the injected pod gives the pod back', (_, c) => {
    const pod = podOf(c.input);
    const r = mutate({ object: pod, namespace: c.namespace, policy: c.policy, kubeVersion: { major: 1, minor: Number(c.kubeVersion.split('.')[1]) }, enforcement: c.enforcement });
    expect(uninject(r.mutated)).toEqual(pod);
  });

  it('leaves a pod without sidelog.io/status as it is', () => {
    const pod = { metadata: { annotations: { a: 'b' } }, spec: { containers: [{ name: 'sidelog-mine' }], volumes: [{ name: 'sidelog-logs-0', emptyDir: {} }] } };
    expect(uninject(pod)).toEqual(pod);
  });
});

const POLICY = `outputs:
  stdout: {type: stdout}
  aggregator: {type: forward, host: agg.logging.svc}
namespaces:
  team-a: {outputs: [stdout, aggregator]}
  "*": {outputs: [stdout]}
`;

function deployment(streams: string) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'team-a' },
    spec: { template: { metadata: { annotations: { 'sidelog.io/streams': streams } }, spec: { containers: [{ name: 'app', image: 'app' }] } } },
  };
}

const AGG = '- path: /var/log/app/app.log\n  name: app\n  output: aggregator\n';

describe('compareWorkload', () => {
  const current = parsePolicy(POLICY);
  const compare = (object: unknown, next: string, enforcement: 'enabled' | 'required' = 'enabled') => compareWorkload({ object, enforcement }, { current, next: parsePolicy(next), kubeVersion: { major: 1, minor: 30 } });

  it('the same policy changes nothing', () => {
    expect(compare(deployment(AGG), POLICY)).toEqual({ kind: 'Deployment', namespace: 'team-a', name: 'web', changed: false, gained: [], lost: [], modified: [], refused: [], newWarnings: [], diff: '' });
  });

  it('a catalog change of the output shows as a config diff only', () => {
    const r = compare(deployment(AGG), POLICY.replace('host: agg.logging.svc', 'host: agg2.logging.svc'));
    expect(r).toMatchObject({ changed: true, gained: [], lost: [], modified: [], refused: [], newWarnings: [] });
    expect(r.diff).toMatch(/^-\s+Host\s+agg\.logging\.svc\n\+\s+Host\s+agg2\.logging\.svc$/m);
  });

  it('an output no longer allowed: stream lost, output refused, new warning', () => {
    const r = compare(deployment(AGG), POLICY.replace('team-a: {outputs: [stdout, aggregator]}', 'team-a: {outputs: [stdout]}'));
    expect(r).toMatchObject({
      lost: ['app (agent -> aggregator, container app)'],
      refused: [{ stream: 'app', output: 'aggregator' }],
      newWarnings: ['sidelog: sidelog.io/streams[0].output: output "aggregator" is not allowed in namespace team-a (allowed: stdout)'],
    });
    expect(r.newDenial).toBeUndefined();
  });

  it('the same in a required namespace: new pods would be refused', () => {
    const r = compare(deployment(AGG), POLICY.replace('team-a: {outputs: [stdout, aggregator]}', 'team-a: {outputs: [stdout]}'), 'required');
    expect(r.newDenial).toMatch(/^sidelog: sidelog.io\/streams\[0\]\.output: output "aggregator" is not allowed/);
    expect(r.changed).toBe(true);
  });

  it('an output newly allowed: the stream is gained', () => {
    const r = compare({ ...deployment(AGG), metadata: { name: 'web', namespace: 'team-b' } }, POLICY.replace('"*": {outputs: [stdout]}', '"*": {outputs: [stdout, aggregator]}'));
    expect(r).toMatchObject({ gained: ['app (agent -> aggregator, container app)'], lost: [], refused: [] });
    expect(r.diff).toMatch(/^new\/fluent-bit\.conf: added \(\d+ lines\)$/m);
  });

  it('a default agent change modifies nothing a stream names, but the configs and sidecars differ', () => {
    const r = compare(deployment(AGG), `defaults: {agent: fluentd}\n${POLICY}`);
    expect(r.modified).toEqual([]);
    expect(r.diff).toMatch(/^current\/fluent-bit\.conf: removed \(\d+ lines\)\n/m);
    expect(r.diff).toMatch(/^new\/fluent\.conf: added \(\d+ lines\)$/m);
    expect(r.diff).toMatch(/^-\s+image: cr\.fluentbit\.io/m);
  });
});
