/**
 * Agent health and metrics (docs/pipelines.md section 7): a liveness probe the kubelet can reach,
 * Fluentd's monitor on loopback only, a named metrics port and Prometheus annotations that never
 * replace the pod's own, ports that never collide with the pod's, nothing opened on hostNetwork.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderFluentBit } from '../sidecar-templates/fluent-bit/index.js';
import { renderFluentd } from '../sidecar-templates/fluentd/index.js';
import { mutate } from '../webhook/inject/mutate.js';
import type { Container, Pod } from '../webhook/core/pod.js';
import { parsePolicy } from '../webhook/core/policy.js';
import { basePod, withAnnotations } from './helpers/fixtures.js';
import { getOne, parseFluentBitConf, sectionsNamed } from './helpers/fluent-bit-conf.js';
import { find, param, parseFluentdConf } from './helpers/fluentd-conf.js';
import { streamInput } from './helpers/records.js';

const policy = parsePolicy(readFileSync(join(import.meta.dirname, 'golden/policy.yaml'), 'utf8'), 'policy.yaml');

function agentOf(pod: Pod, agent: string, extra: Record<string, string> = {}) {
  const annotated = withAnnotations(pod, { 'sidelog.io/streams': '- {path: /var/log/app/app.log, container: web, output: stdout}', 'sidelog.io/agent': agent, ...extra });
  const r = mutate({ object: annotated, namespace: 'team-a', policy, kubeVersion: { major: 1, minor: 30 } });
  const out = r.mutated as Pod;
  const container = (out.spec.initContainers ?? []).find((c) => c.name === 'sidelog-agent') as Container;
  return { r, out, container };
}

describe('Fluent Bit', () => {
  it('health check on, probed over the pod IP, metrics on the same named port', () => {
    const render = renderFluentBit(streamInput('none', undefined));
    const [service] = sectionsNamed(parseFluentBitConf(render.files[0]!.text), 'SERVICE');
    expect(['HTTP_Server', 'HTTP_Listen', 'HTTP_Port', 'Health_Check'].map((k) => getOne(service!, k))).toEqual(['On', '::', '2020', 'On']);
    expect(render.livenessProbe).toMatchObject({ httpGet: { path: '/api/v1/health', port: 2020 } });
    expect(render.ports).toEqual([{ name: 'sidelog-metrics', containerPort: 2020, protocol: 'TCP' }]);
  });

  it('binds the policy\'s agentListen: 0.0.0.0 for nodes without IPv6', () => {
    const input = streamInput('none', undefined);
    const render = renderFluentBit({ ...input, defaults: { ...input.defaults, agentListen: '0.0.0.0' } });
    expect(getOne(sectionsNamed(parseFluentBitConf(render.files[0]!.text), 'SERVICE')[0]!, 'HTTP_Listen')).toBe('0.0.0.0');
  });

  it('moves off the ports the pod declares (the sidecar shares its network namespace)', () => {
    const render = renderFluentBit({ ...streamInput('none', undefined), network: { usedPorts: [2020, 2021], hostNetwork: false } });
    expect(getOne(sectionsNamed(parseFluentBitConf(render.files[0]!.text), 'SERVICE')[0]!, 'HTTP_Port')).toBe('2022');
    expect(render.livenessProbe).toMatchObject({ httpGet: { port: 2022 } });
  });
});

describe('Fluentd', () => {
  it('monitor on loopback without configs, exec probe against it, Prometheus exporter on a named port', () => {
    const render = renderFluentd(streamInput('none', undefined));
    const sources = find(parseFluentdConf(render.files[0]!.text), 'source');
    const monitor = sources.find((s) => param(s, '@type') === 'monitor_agent')!;
    expect([param(monitor, 'bind'), param(monitor, 'port'), param(monitor, 'include_config')]).toEqual(['127.0.0.1', '24220', 'false']);
    const exporter = sources.find((s) => param(s, '@type') === 'prometheus')!;
    expect([param(exporter, 'bind'), param(exporter, 'port')]).toEqual(['::', '24231']);
    const command = (render.livenessProbe as { exec: { command: string[] } }).exec.command;
    expect(command.slice(0, 2)).toEqual(['ruby', '-rnet/http']);
    expect(command[3]).toContain("Net::HTTP.start('127.0.0.1', 24220");
    expect(render.ports).toEqual([{ name: 'sidelog-metrics', containerPort: 24231, protocol: 'TCP' }]);
  });

  it('without sidelog\'s image there is no exporter (its plugin may be missing), only the core monitor', () => {
    const input = streamInput('none', undefined, { type: 'stdout', fluentdImage: 'fluent/fluentd:v1.19.3-debian-1.0' });
    const render = renderFluentd(input);
    expect(find(parseFluentdConf(render.files[0]!.text), 'source').map((s) => param(s, '@type'))).toEqual(['monitor_agent', 'tail']);
    expect(render.ports).toEqual([]);
    expect(render.livenessProbe).toBeDefined();
  });
});

describe('in the pod', () => {
  it.each(['fluent-bit', 'fluentd'])('%s: probe and port on the agent container, Prometheus annotations when the pod has none', (agent) => {
    const { container, out } = agentOf(basePod(), agent);
    expect(container.livenessProbe).toBeDefined();
    expect(container.ports).toEqual([expect.objectContaining({ name: 'sidelog-metrics' })]);
    const port = String((container.ports as Array<{ containerPort: number }>)[0]!.containerPort);
    expect(out.metadata!.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': port });
  });

  it("keeps the pod's own Prometheus annotations", () => {
    const pod = withAnnotations(basePod(), { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' });
    const { out } = agentOf(pod, 'fluent-bit');
    expect(out.metadata!.annotations!['prometheus.io/port']).toBe('9090');
    expect(out.metadata!.annotations!['prometheus.io/path']).toBeUndefined();
  });

  it.each(['fluent-bit', 'fluentd'])('%s with hostNetwork: no port, no probe, and a warning', (agent) => {
    const pod = basePod();
    pod.spec.hostNetwork = true;
    const { container, r } = agentOf(pod, agent);
    expect(container.ports).toBeUndefined();
    expect(container.livenessProbe).toBeUndefined();
    expect(r.warnings.some((w) => w.includes('hostNetwork'))).toBe(true);
    expect(r.configs[0]!.text).not.toMatch(/HTTP_Server +On|monitor_agent|@type +prometheus/);
  });
});
