/**
 * Requested streams, checked against the pod (containers, mounts, names) and the policy (allowed
 * outputs, pod-settable params): the plan the renderers work from. Pure; problems name fields.
 */
import { type AgentStream, PATHS, type StreamingStream } from './sidecar-model.js';
import { type AgentName, type RequestedStream, AGENT, PARAM_VALUE, isGlob, splitPath } from './annotations.js';
import { RESERVED_STREAM_NAMES, streamingSidecarName, toDnsLabel } from './names.js';
import { type NamespaceRules, type Output, type Policy, fillTemplate, paramAllowed, rulesFor } from './policy.js';
import type { Container, Pod, Volume, VolumeMount } from './pod.js';
import { type Problem, fieldPath } from './problems.js';
import { fluentdOnlyRegexError } from './regex.js';

/** Volume kinds whose existing mount sidelog may share with a sidecar. Never hostPath, never secrets. */
const REUSABLE = ['emptyDir', 'persistentVolumeClaim', 'ephemeral'] as const;

/** A log volume the plan uses: either an existing volume of the pod or a new emptyDir. */
export interface LogVolume {
  readonly name: string;
  readonly isNew: boolean;
  /** Where sidecars mount it (read-only). */
  readonly sidecarMountPath: string;
  readonly subPath?: string;
}

/** A mount sidelog adds to a writing container (for a new log volume). */
export interface AppMount {
  readonly container: string;
  readonly mount: VolumeMount;
}

export interface Plan {
  readonly agent: AgentName;
  readonly agentStreams: AgentStream[];
  readonly streamingStreams: StreamingStream[];
  readonly logVolumes: LogVolume[];
  readonly appMounts: AppMount[];
  /** Log volume names (with subPath) each stream reads, by stream name. */
  readonly streamVolume: ReadonlyMap<string, LogVolume>;
  readonly problems: Problem[];
  readonly warnings: string[];
}

function volumeKind(v: Volume): string {
  return Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
}

function normalizeDir(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/** Default stream name: the file name without extension (or the directory for a pure glob). */
function deriveName(path: string): string {
  const { dir, file } = splitPath(path);
  const base = toDnsLabel(file.replace(/\.[^.]*$/, '').replace(/[*?[\]]/g, ''), 40);
  if (base) return base;
  const fromDir = toDnsLabel(dir.split('/').pop() ?? '', 40);
  return fromDir === '' ? 'log' : fromDir;
}

interface Ctx {
  readonly pod: Pod;
  readonly namespace: string;
  readonly policy: Policy;
  readonly rules: NamespaceRules;
  readonly agent: AgentName;
}

function pickContainer(s: RequestedStream, pod: Pod): { container: Container } | { problem: Problem } {
  const containers = pod.spec.containers;
  if (s.spec.container === undefined) {
    if (containers.length === 1) return { container: containers[0]! };
    return { problem: { field: `${s.field}.container`, message: `required: the pod has ${containers.length} containers (${containerList(containers)})` } };
  }
  const found = containers.find((c) => c.name === s.spec.container);
  if (found) return { container: found };
  return { problem: { field: `${s.field}.container`, message: `no container named "${s.spec.container}" (containers: ${containerList(containers)})` } };
}

/** How many container names a problem lists: a pod may declare tens of thousands, and 32 streams may each name one. */
export const LISTED_CONTAINERS = 20;

/** "a, b, c" or, past {@link LISTED_CONTAINERS}, "a, b, ... and 9980 more". */
function containerList(containers: readonly Container[]): string {
  const names = containers.slice(0, LISTED_CONTAINERS).map((c) => c.name).join(', ');
  return containers.length > LISTED_CONTAINERS ? `${names}, ... and ${containers.length - LISTED_CONTAINERS} more` : names;
}

/** The catalog output for an agent stream, with allowed params applied and placeholders filled. */
function resolveOutput(s: RequestedStream, ctx: Ctx, streamName: string, container: string): { name: string; output: Output } | Problem[] {
  const name = s.spec.output!;
  const field = `${s.field}.output`;
  const allowed = ctx.rules.outputs;
  const catalog = Object.hasOwn(ctx.policy.outputs, name) ? ctx.policy.outputs[name] : undefined;
  if (!catalog || !allowed.includes(name)) {
    const list = allowed.length ? allowed.join(', ') : 'none';
    return [{ field, message: `output "${name}" is not allowed in namespace ${ctx.namespace} (allowed: ${list})` }];
  }
  const problems: Problem[] = [];
  const out: Record<string, unknown> = { ...catalog };
  for (const [key, value] of Object.entries(s.spec.params ?? {})) {
    const rule = Object.hasOwn(catalog.podParams, key) ? catalog.podParams[key] : undefined;
    if (rule === undefined) {
      const settable = Object.keys(catalog.podParams);
      problems.push({ field: fieldPath(`${s.field}.params`, [key]), message: `cannot be set by pods on output "${name}"${settable.length ? ` (settable: ${settable.join(', ')})` : ' (the catalog fixes every field)'}` });
    } else if (!paramAllowed(value, rule, ctx.namespace)) {
      problems.push({ field: fieldPath(`${s.field}.params`, [key]), message: `"${value}" is not allowed by output "${name}"${rule.pattern ? ` (must match ${rule.pattern})` : ''}` });
    } else {
      out[key] = value;
    }
  }
  if (problems.length) return problems;
  const facts = { namespace: ctx.namespace, stream: streamName, container };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === 'string') out[key] = fillTemplate(value, facts);
  }
  if (catalog.type === 'loki') {
    out.labels = Object.fromEntries(Object.entries(catalog.labels).map(([k, v]) => [k, fillTemplate(v, facts)]));
  }
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === 'string' && key !== 'type' && key !== 'endpoint' && key !== 'fluentdImage' && !PARAM_VALUE.test(value)) {
      problems.push({ field, message: `output "${name}" field ${key} renders to an invalid value` });
    }
  }
  if (problems.length) return problems;
  return { name, output: out as Output };
}

/**
 * Plan the injection: resolve containers, names, outputs and log volumes. Streams with problems
 * are left out of the plan and reported; the caller decides whether problems refuse the pod.
 */
export function resolvePlan(pod: Pod, namespace: string, policy: Policy, requested: readonly RequestedStream[], agentAsked: AgentName | undefined): Plan {
  const rules = rulesFor(policy, namespace);
  // The pod's choice if the namespace allows it; else the policy default if allowed; else the
  // namespace's first allowed agent.
  const allowedDefault = rules.agents.includes(policy.defaults.agent) ? policy.defaults.agent : rules.agents[0];
  const agentRefused = agentAsked !== undefined && !rules.agents.includes(agentAsked);
  const agent = agentAsked !== undefined && !agentRefused ? agentAsked : allowedDefault ?? policy.defaults.agent;
  const ctx: Ctx = { pod, namespace, policy, rules, agent };
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const volumes = pod.spec.volumes ?? [];
  const volumeNames = new Set(volumes.map((v) => v.name));
  /** The first volume of each name (what `volumes.find` would return), so a mount's volume is found in O(1). */
  const volumeByName = new Map<string, Volume>();
  for (const v of volumes) if (!volumeByName.has(v.name)) volumeByName.set(v.name, v);
  /** Each container's mounts, longest mountPath first, with their normalized path and volume kind: computed once however many streams read that container. */
  type SortedMount = { m: VolumeMount; mp: string; under: string; kind: string; reusable: boolean };
  const sortedMounts = new Map<Container, SortedMount[]>();
  const mountsOf = (c: Container): SortedMount[] => {
    let sorted = sortedMounts.get(c);
    if (!sorted) {
      sorted = [...(c.volumeMounts ?? [])].sort((a, b) => b.mountPath.length - a.mountPath.length).map((m) => {
        const v = volumeByName.get(m.name);
        const mp = normalizeDir(m.mountPath);
        const kind = v ? volumeKind(v) : 'missing';
        return { m, mp, under: `${mp}/`, kind, reusable: (REUSABLE as readonly string[]).includes(kind) && m.subPathExpr === undefined };
      });
      sortedMounts.set(c, sorted);
    }
    return sorted;
  };
  /**
   * Per derived base name, the first suffix not yet known to be taken. Names only ever become taken
   * during planning, so the next stream with the same base resumes there instead of at 2 (a pod with
   * containers sidelog-app-2 ... sidelog-app-60000 once made each of 32 streams walk all of them).
   */
  const nextSuffix = new Map<string, number>();
  const usedNames = new Map<string, string>();
  const agentStreams: AgentStream[] = [];
  const streamingStreams: StreamingStream[] = [];
  const logVolumes: LogVolume[] = [];
  const appMounts: AppMount[] = [];
  const streamVolume = new Map<string, LogVolume>();
  /** `container\0dir` -> the new volume sidelog creates for that directory. */
  const newVolumeFor = new Map<string, LogVolume>();
  let nextLogVolume = 0;
  /** Where sidecars mount a log volume: `/sidelog/logs/<volume>`, numbered when a volume is shared at several subPaths. */
  const mountPaths = new Set<string>();
  const sidecarMountPath = (volume: string): string => {
    let path = `${PATHS.logs}/${volume}`;
    for (let n = 2; mountPaths.has(path); n++) path = `${PATHS.logs}/${volume}.${n}`;
    mountPaths.add(path);
    return path;
  };

  const agentsAllowed = !agentRefused && rules.agents.length > 0;
  /** Agent-mode streams left out because no agent may run, named in the one problem about it. */
  const withoutAgent: string[] = [];
  /** Every container name in the pod: a streaming sidecar must not take one. */
  const podContainers = new Set([...pod.spec.containers, ...(pod.spec.initContainers ?? []), ...(pod.spec.ephemeralContainers ?? [])].map((c) => c.name));
  /** Why a stream name cannot be used for a streaming sidecar, or undefined. */
  const sidecarNameTaken = (n: string): string | undefined => {
    if (RESERVED_STREAM_NAMES.has(n)) return `its sidecar would be named ${streamingSidecarName(n)}, the agent sidecar's name`;
    if (podContainers.has(streamingSidecarName(n))) return `its sidecar would be named ${streamingSidecarName(n)}, and the pod already has a container of that name`;
    return undefined;
  };

  // Explicit names first, so a derived name never takes a name a later stream asked for.
  for (const s of requested) {
    if (s.spec.name === undefined) continue;
    const taken = usedNames.get(s.spec.name);
    if (taken) problems.push({ field: `${s.field}.name`, message: `"${s.spec.name}" is already used by ${taken}` });
    else usedNames.set(s.spec.name, s.field);
  }

  for (const s of requested) {
    const picked = pickContainer(s, pod);
    if ('problem' in picked) {
      problems.push(picked.problem);
      continue;
    }
    const { container } = picked;
    let name = s.spec.name;
    if (name === undefined) {
      // A derived name is claimed only when the stream is accepted (see `accept`), so a stream
      // that is dropped for a problem does not push the next one to `app-2`.
      const base = deriveName(s.spec.path);
      name = base;
      if (usedNames.has(name) || sidecarNameTaken(name) !== undefined) {
        let n = nextSuffix.get(base) ?? 2;
        for (name = `${base.slice(0, 36)}-${n}`; usedNames.has(name) || sidecarNameTaken(name) !== undefined; ) name = `${base.slice(0, 36)}-${++n}`;
        nextSuffix.set(base, n);
      }
    } else if (usedNames.get(name) !== s.field) {
      continue; // duplicate explicit name, reported above
    }
    const accept = (v: LogVolume) => {
      usedNames.set(name, s.field);
      streamVolume.set(name, v);
    };
    const { dir, file } = splitPath(s.spec.path);

    // Where does the file live? An existing mount of the directory (or an ancestor) is shared.
    let volume: LogVolume | undefined;
    let relative = '';
    const mounts = mountsOf(container);
    let blocked: string | undefined;
    for (const { m, mp, under, kind, reusable } of mounts) {
      const exact = mp === dir;
      if (!exact && !dir.startsWith(under) && mp !== '/') continue;
      if (!reusable) {
        if (exact) blocked = `${dir} is a ${m.subPathExpr !== undefined ? 'subPathExpr mount' : `${kind} volume`} ("${m.name}") in container ${container.name}; sidelog shares only emptyDir and persistent volumes with its sidecars`;
        if (exact) break;
        continue;
      }
      relative = exact ? '' : dir.slice(mp === '/' ? 1 : mp.length + 1);
      const existing = logVolumes.find((lv) => !lv.isNew && lv.name === m.name && lv.subPath === m.subPath);
      volume = existing ?? {
        name: m.name,
        isNew: false,
        sidecarMountPath: sidecarMountPath(m.name),
        ...(m.subPath !== undefined ? { subPath: m.subPath } : {}),
      };
      if (!existing) logVolumes.push(volume);
      break;
    }
    if (blocked) {
      problems.push({ field: `${s.field}.path`, message: blocked });
      continue;
    }
    if (!volume) {
      const key = `${container.name}\0${dir}`;
      volume = newVolumeFor.get(key);
      if (!volume) {
        let volName: string;
        do volName = `sidelog-logs-${nextLogVolume++}`;
        while (volumeNames.has(volName));
        volume = { name: volName, isNew: true, sidecarMountPath: sidecarMountPath(volName) };
        newVolumeFor.set(key, volume);
        logVolumes.push(volume);
        appMounts.push({ container: container.name, mount: { name: volName, mountPath: dir } });
      }
    }
    const sidecarPath = [volume.sidecarMountPath, relative, file].filter(Boolean).join('/');

    if (s.mode === 'streaming') {
      const taken = sidecarNameTaken(name);
      if (taken !== undefined) {
        problems.push({ field: `${s.field}.name`, message: `"${name}": ${taken}; this stream is not injected (choose another name)` });
        continue;
      }
      if (isGlob(file)) {
        warnings.push(`${s.field}.path: a glob in streaming mode follows the files present when the sidecar starts (and their rotations); use mode: agent to pick up new files`);
      }
      streamingStreams.push({ index: s.index, name, container: container.name, appPath: s.spec.path, sidecarPath });
      accept(volume);
      continue;
    }
    if (!agentsAllowed) {
      withoutAgent.push(`${name} (${s.field})`);
      continue;
    }
    if (s.spec.regex !== undefined && agent === 'fluentd') {
      const rubyProblem = fluentdOnlyRegexError(s.spec.regex);
      if (rubyProblem !== undefined) {
        problems.push({ field: `${s.field}.regex`, message: rubyProblem });
        continue;
      }
    }
    const critical = s.spec.critical ?? false;
    if (critical && !rules.critical) {
      problems.push({ field: `${s.field}.critical`, message: `critical streams are not allowed in namespace ${namespace}` });
      continue;
    }
    const resolved = resolveOutput(s, ctx, name, container.name);
    if (Array.isArray(resolved)) {
      problems.push(...resolved);
      continue;
    }
    accept(volume);
    agentStreams.push({
      index: s.index,
      name,
      container: container.name,
      appPath: s.spec.path,
      sidecarPath,
      parser: s.spec.parser ?? 'none',
      ...(s.spec.regex !== undefined ? { regex: s.spec.regex } : {}),
      critical,
      outputName: resolved.name,
      output: resolved.output,
    });
  }

  const dropped = withoutAgent.length ? `; agent-mode streams not injected: ${withoutAgent.join(', ')}` : '';
  // Reported first, as the pod-wide problem it is.
  if (agentRefused) {
    problems.unshift({ field: AGENT, message: `agent ${agentAsked} is not allowed in namespace ${namespace} (allowed: ${rules.agents.join(', ') || 'none'})${dropped || '; its agent-mode streams are not injected'}` });
  } else if (rules.agents.length === 0) {
    problems.unshift({ field: AGENT, message: `no agent is allowed in namespace ${namespace}${dropped || '; agent-mode streams are not injected'}` });
  }

  // Only volumes some surviving stream reads are kept.
  const used = new Set(streamVolume.values());
  const keptVolumes = logVolumes.filter((v) => used.has(v));
  const keptMounts = appMounts.filter((m) => keptVolumes.some((v) => v.name === m.mount.name));
  return { agent, agentStreams, streamingStreams, logVolumes: keptVolumes, appMounts: keptMounts, streamVolume, problems, warnings };
}
