/**
 * What every injection must hold beyond the API server's rules: the generated configs, parsed back
 * the way the agents read them, hold exactly the directives sidelog intended (no config escapes),
 * and every sidecar sidelog added is locked down.
 */
import type { MutateResult } from '../../webhook/inject/mutate.js';
import type { Pod } from '../../webhook/core/pod.js';
import { checkAgentConfig } from './agent-config.js';
import { getOne, parseFluentBitConf, sectionsNamed } from './fluent-bit-conf.js';
import { find, parseFluentdConf } from './fluentd-conf.js';

/** The directives sidelog intends for this injection, checked against the parsed-back config. */
export function checkIntended(result: MutateResult, namespace: string): string[] {
  const problems: string[] = [];
  const agentStreams = (result.injection?.streams ?? []).filter((s) => s.mode === 'agent');
  for (const c of result.configs) {
    problems.push(...checkAgentConfig(c.file, c.text));
    if (c.file === 'fluent-bit.conf') {
      const conf = parseFluentBitConf(c.text);
      const inputs = sectionsNamed(conf, 'INPUT');
      const outputs = sectionsNamed(conf, 'OUTPUT');
      const tags = agentStreams.map((s) => `sidelog.${s.name}`).sort();
      if (JSON.stringify(inputs.map((s) => getOne(s, 'Tag')).sort()) !== JSON.stringify(tags)) problems.push('fluent-bit: inputs differ from the agent streams');
      if (JSON.stringify(outputs.map((s) => getOne(s, 'Match')).sort()) !== JSON.stringify(tags)) problems.push('fluent-bit: outputs differ from the agent streams');
      if (sectionsNamed(conf, 'SERVICE').length !== 1) problems.push('fluent-bit: not exactly one [SERVICE]');
      for (const s of inputs) if (!getOne(s, 'Path').startsWith('/sidelog/logs/')) problems.push(`fluent-bit: tail path outside the log volumes: ${getOne(s, 'Path')}`);
    }
    if (c.file === 'fluent.conf') {
      const root = parseFluentdConf(c.text);
      const sources = find(root, 'source').filter((src) => src.params.some((p) => p.key === '@type' && p.value === 'tail'));
      const matches = find(root, 'match');
      if (sources.length !== agentStreams.length || matches.length !== agentStreams.length) problems.push('fluentd: sources/matches differ from the agent streams');
      // Namespaced like Fluent Bit's forward tags; Cloud Logging streams are tagged with their log name.
      const tags = agentStreams.map((s) => (s.outputType === 'stackdriver' ? `${namespace}.${s.name}` : `sidelog.${namespace}.${s.name}`)).sort();
      if (JSON.stringify(matches.map((m) => m.arg).sort()) !== JSON.stringify(tags)) problems.push('fluentd: match patterns differ from the agent streams');
    }
  }
  return problems;
}

/** Every sidecar sidelog added: non-root, unprivileged, no escalation, no capabilities, no hostPath. */
export function sidecarProblems(original: Pod, mutated: Pod): string[] {
  const problems: string[] = [];
  const before = new Set([...original.spec.containers, ...(original.spec.initContainers ?? [])].map((c) => c.name));
  const added = [...mutated.spec.containers, ...(mutated.spec.initContainers ?? [])].filter((c) => !before.has(c.name));
  for (const c of added) {
    const sc = c.securityContext ?? {};
    if (!c.name.startsWith('sidelog-')) problems.push(`${c.name}: added container not named sidelog-*`);
    if (sc.privileged !== false || sc.allowPrivilegeEscalation !== false || sc.runAsNonRoot !== true || !(sc.runAsUser! > 0)) problems.push(`${c.name}: not locked down`);
    if (sc.readOnlyRootFilesystem !== true || JSON.stringify(sc.capabilities) !== '{"drop":["ALL"]}') problems.push(`${c.name}: root filesystem or capabilities`);
  }
  const oldVolumes = new Set((original.spec.volumes ?? []).map((v) => v.name));
  for (const v of mutated.spec.volumes ?? []) {
    if (oldVolumes.has(v.name)) continue;
    if (!(v.emptyDir || v.downwardAPI || v.secret || v.projected)) problems.push(`volume ${v.name}: added with a forbidden type`);
  }
  for (const c of added) {
    for (const m of c.volumeMounts ?? []) {
      const v = (mutated.spec.volumes ?? []).find((x) => x.name === m.name);
      if (!v || 'hostPath' in v) problems.push(`${c.name}: mounts ${m.name} (hostPath or missing)`);
    }
  }
  return problems;
}
