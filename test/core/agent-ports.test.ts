/**
 * The agent's ports avoid the ones the pod declares, however many it declares: only ports in the
 * agents' search ranges are read (a pod declaring tens of thousands of ports once made every
 * render quadratic), a pod that takes the whole range gets no agent (named), and malformed port
 * entries are skipped, never a crash.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pod } from '../../webhook/core/pod.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { AGENT_PORTS, PORT_SEARCH, inAgentPortRange } from '../../webhook/core/sidecar-model.js';
import { mutateChecked as mutate } from '../helpers/checked.js';
import { basePod, withAnnotations } from '../helpers/fixtures.js';

const policy = parsePolicy(readFileSync(join(import.meta.dirname, '../golden/policy.yaml'), 'utf8'));
const STREAMS = '- {path: /var/log/app/a.log, container: web, output: stdout}\n- {path: /var/log/app/b.log, container: web}';

function podWithPorts(ports: unknown[], agent = 'fluent-bit'): Pod {
  const pod = withAnnotations(basePod(), { 'sidelog.io/streams': STREAMS, 'sidelog.io/agent': agent });
  (pod.spec.containers[0] as { ports?: unknown }).ports = ports;
  return pod;
}
const agentOf = (mutated: unknown) => [...((mutated as Pod).spec.initContainers ?? []), ...(mutated as Pod).spec.containers].find((c) => c.name === 'sidelog-agent');
const portsOf = (mutated: unknown) => (agentOf(mutated)?.ports as Array<{ containerPort: number }> | undefined)?.map((p) => p.containerPort);

describe('agent ports', () => {
  it('reads only ports in the agents\' ranges', () => {
    expect([2019, 2020, 2085, 2086, 24219, 24220, 24296, 24297, 8080].map(inAgentPortRange)).toEqual([false, true, true, false, false, true, true, false, false]);
  });

  it('moves past the ports the pod declares, among tens of thousands of others', () => {
    const ports = Array.from({ length: 40_000 }, (_, i) => ({ containerPort: 25_000 + i }));
    ports.push({ containerPort: 2020 }, { containerPort: 2021 });
    const r = mutate({ object: podWithPorts(ports), namespace: 'team-a', policy, kubeVersion: { major: 1, minor: 30 } });
    expect(r.injection?.streams.map((s) => s.name)).toEqual(['a', 'b']);
    expect(portsOf(r.mutated)).toEqual([2022]);
    expect(r.configs[0]!.text).toMatch(/^ {4}HTTP_Port +2022$/m);
  });

  it.each(['fluent-bit', 'fluentd'])('gives no agent, naming its streams, when the pod takes the whole range (%s)', (agent) => {
    const first = agent === 'fluent-bit' ? AGENT_PORTS.fluentBitHttp : AGENT_PORTS.fluentdMonitor;
    const ports = Array.from({ length: PORT_SEARCH + 20 }, (_, i) => ({ containerPort: first + i }));
    const r = mutate({ object: podWithPorts(ports, agent), namespace: 'team-a', policy, kubeVersion: { major: 1, minor: 30 } });
    expect(agentOf(r.mutated)).toBeUndefined();
    expect(r.injection?.streams.map((s) => s.name)).toEqual(['b']);
    expect(r.warnings).toEqual([expect.stringMatching(new RegExp(`the pod declares every port from ${first} to ${first + PORT_SEARCH - 1}; .* agent-mode streams not injected: a \\(sidelog\\.io/streams\\[0\\]\\)$`))]);
  });

  it('skips port entries that are not objects (the API server never sends them; a direct client might)', () => {
    const r = mutate({ object: podWithPorts([null, 'x', { containerPort: 'y' }, { containerPort: 2020 }]), namespace: 'team-a', policy, kubeVersion: { major: 1, minor: 30 } });
    expect(portsOf(r.mutated)).toEqual([2021]);
  });
});
