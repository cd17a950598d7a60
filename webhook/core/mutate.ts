/**
 * The injection core: `mutate(input)` takes the pod, the request facts and the policy, and returns
 * the JSON patch, the mutated pod, warnings, and why nothing was done when nothing was. No I/O, no
 * clock, no environment: the same input gives the same bytes.
 */
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { renderFluentBit } from '../../sidecar-templates/fluent-bit/index.js';
import { renderFluentd } from '../../sidecar-templates/fluentd/index.js';
import { factEnv, restrictedSecurityContext } from '../../sidecar-templates/common.js';
import { renderStreaming } from '../../sidecar-templates/streaming/index.js';
import { type AgentRender, type AgentRenderInput, PATHS, VOLUMES } from '../../sidecar-templates/types.js';
import { type AgentName, RESOURCES, STATUS, STREAMS, parsePodOptions, parseStreamsCached } from './annotations.js';
import { type KubeVersion, useNativeSidecars } from './kube-version.js';
import type { Policy } from './policy.js';
import { type Container, type Pod, type Volume, type VolumeMount, PodSchema } from './pod.js';
import { type Problem, problemText, zodProblems } from './problems.js';
import { type Plan, type LogVolume, resolvePlan } from './resolve.js';
import { sidecarIdentity } from './identity.js';
import { sidecarResources } from './resources.js';
import { skipReason } from './should-inject.js';

export const AGENT_CONTAINER = 'sidelog-agent';
const WARNING_PREFIX = 'sidelog: ';
const MAX_WARNING = 400;
const MAX_WARNINGS = 20;
/** Seconds kept between the agent's flush deadline and the kubelet's SIGKILL. */
const GRACE_MARGIN = 5;

export type Enforcement = 'enabled' | 'required';

export const AGENT_RENDERERS: Readonly<Record<AgentName, (input: AgentRenderInput) => AgentRender>> = {
  'fluent-bit': renderFluentBit,
  fluentd: renderFluentd,
};

export interface MutateInput {
  /** The Pod exactly as the API server sent it (`request.object`). */
  readonly object: unknown;
  /** `request.namespace`: pods made by controllers carry no namespace of their own. */
  readonly namespace: string;
  readonly policy: Policy;
  readonly operation?: string;
  readonly kind?: string;
  readonly subResource?: string | undefined;
  /** `required` namespaces refuse pods whose streams have problems; `enabled` ones warn. */
  readonly enforcement?: Enforcement;
  /** Target cluster version (for native sidecars); undefined when unknown. */
  readonly kubeVersion?: KubeVersion | undefined;
}

export interface InjectedStream {
  readonly name: string;
  readonly mode: 'streaming' | 'agent';
  readonly container: string;
  readonly output?: string;
  readonly outputType?: string;
  readonly critical?: boolean;
}

/** What `sidelog.io/status` records. */
export interface Injection {
  readonly version: 1;
  readonly agent?: AgentName;
  readonly native: boolean;
  readonly streams: InjectedStream[];
}

export interface MutateResult {
  readonly allowed: boolean;
  /** Why the pod is refused (required namespaces only). */
  readonly denial?: string;
  readonly patch: Operation[];
  /** The pod after the patch (the input itself when nothing changed). */
  readonly mutated: unknown;
  /** Already prefixed with `sidelog: `, ready for AdmissionResponse.warnings. */
  readonly warnings: string[];
  /** Set when sidelog did nothing; `code` is a stable metric label. */
  readonly skip?: { readonly code: string; readonly reason: string };
  readonly injection?: Injection;
  /** Generated agent config files, for preview. */
  readonly configs: ReadonlyArray<{ readonly file: string; readonly text: string }>;
}

/** Control characters from pod text are shown escaped: a warning is always one printable line. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function warningsOf(problems: readonly Problem[], extra: readonly string[]): string[] {
  const all = [...problems.map(problemText), ...extra].map((w) => {
    const text = WARNING_PREFIX + printable(w);
    return text.length > MAX_WARNING ? `${text.slice(0, MAX_WARNING - 1)}…` : text;
  });
  if (all.length > MAX_WARNINGS) return [...all.slice(0, MAX_WARNINGS - 1), `${WARNING_PREFIX}${all.length - MAX_WARNINGS + 1} more problems not shown`];
  return all;
}

function skipped(object: unknown, code: string, reason: string, warnings: string[] = []): MutateResult {
  return { allowed: true, patch: [], mutated: object, warnings, skip: { code, reason }, configs: [] };
}

function denied(object: unknown, problems: readonly Problem[]): MutateResult {
  const message = `sidelog: ${printable(problems.map(problemText).join('; '))}`;
  return {
    allowed: false,
    denial: message.length > 1024 ? `${message.slice(0, 1023)}…` : message,
    patch: [],
    mutated: object,
    warnings: [],
    skip: { code: 'invalid', reason: 'refused: invalid sidelog annotations in a required namespace' },
    configs: [],
  };
}

/** The ports the pod's containers declare and whether it runs on the node's network (the agent avoids both). */
function podNetwork(pod: Pod): { usedPorts: number[]; hostNetwork: boolean } {
  const ports = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].flatMap((c) => {
    const declared = (c as { ports?: unknown }).ports;
    return Array.isArray(declared) ? declared.map((p) => (p as { containerPort?: unknown }).containerPort).filter((n): n is number => typeof n === 'number') : [];
  });
  return { usedPorts: ports, hostNetwork: pod.spec.hostNetwork === true };
}

function logMount(v: LogVolume): VolumeMount {
  return { name: v.name, mountPath: v.sidecarMountPath, readOnly: true, ...(v.subPath !== undefined ? { subPath: v.subPath } : {}) };
}

function emptyDir(name: string, sizeLimit: string | undefined): Volume {
  return { name, emptyDir: sizeLimit !== undefined ? { sizeLimit } : {} };
}

/** Inject sidecars into one pod. See the README "Annotation reference" for what each stream gets. */
export function mutate(input: MutateInput): MutateResult {
  const { object, namespace, policy } = input;
  const raw = object as Pod | undefined;
  const rawAnnotations = raw !== null && typeof raw === 'object' ? raw.metadata?.annotations : undefined;
  const annotations = rawAnnotations !== null && typeof rawAnnotations === 'object' ? rawAnnotations : {};
  const skip = skipReason({
    operation: input.operation ?? 'CREATE',
    kind: input.kind ?? 'Pod',
    subResource: input.subResource,
    annotations,
  });
  if (skip) return skipped(object, skip.code, skip.reason);

  const enforcement = input.enforcement ?? 'enabled';
  const podCheck = PodSchema.safeParse(object);
  if (!podCheck.success) {
    const problems = zodProblems('pod', podCheck.error).slice(0, 3);
    return skipped(object, 'invalid-pod', 'the pod does not validate', warningsOf(problems, []));
  }
  const pod = object as Pod;
  const ann = pod.metadata!.annotations!;

  const parsed = parseStreamsCached(ann[STREAMS]!);
  const streams = parsed.streams;
  const problems = [...parsed.problems];
  const options = parsePodOptions(ann);
  problems.push(...options.problems);
  const resources = sidecarResources(policy.defaults, ann[RESOURCES]);
  problems.push(...resources.problems);

  const plan = resolvePlan(pod, namespace, policy, streams, options.options.agent);
  problems.push(...plan.problems);
  const warnings = [...plan.warnings];

  const native = useNativeSidecars(policy.defaults.nativeSidecars, input.kubeVersion);
  if (problems.length && enforcement === 'required') return denied(object, problems);
  const runToCompletion = pod.spec.restartPolicy === 'Never' || pod.spec.restartPolicy === 'OnFailure';
  if (!native && runToCompletion && (plan.agentStreams.length || plan.streamingStreams.length)) {
    return skipped(object, 'run-to-completion', 'classic sidecars would keep a run-to-completion pod running', warningsOf(problems, [
      ...warnings,
      `not injected: restartPolicy ${pod.spec.restartPolicy} needs native sidecars (Kubernetes 1.29+, policy nativeSidecars: ${policy.defaults.nativeSidecars}); a classic sidecar would keep the pod running forever`,
    ]));
  }

  let agent: AgentRender | undefined;
  const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
  const flushSeconds = Math.max(1, Math.min(policy.defaults.flushSeconds, grace - GRACE_MARGIN));
  if (plan.agentStreams.length) {
    if (grace - GRACE_MARGIN < policy.defaults.flushSeconds) {
      warnings.push(`spec.terminationGracePeriodSeconds: ${grace}s leaves the log agent ${flushSeconds}s to flush (policy: ${policy.defaults.flushSeconds}s); set it to at least ${policy.defaults.flushSeconds + GRACE_MARGIN} so buffered logs are delivered at shutdown`);
    }
    try {
      agent = AGENT_RENDERERS[plan.agent]({ streams: plan.agentStreams, defaults: policy.defaults, flushSeconds, namespace, memoryLimit: resources.resources.agent.limits?.memory ?? resources.resources.agent.requests?.memory, network: podNetwork(pod) });
      problems.push(...agent.problems);
      if (!agent.problems.length) {
        warnings.push(...agent.warnings, ...sidecarIdentity(pod, plan.agentStreams.map((s) => s.container), policy.defaults.runAsUser).warnings);
      }
    } catch (e) {
      problems.push({ field: STREAMS, message: `cannot render the ${plan.agent} config: ${(e as Error).message}` });
      agent = undefined;
    }
    if (agent?.problems.length) agent = undefined;
  }

  const existing = new Set([...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name));
  const newNames = [...plan.streamingStreams.map((s) => `sidelog-${s.name}`), ...(agent ? [AGENT_CONTAINER] : [])];
  for (const n of newNames) if (existing.has(n)) problems.push({ field: 'spec.containers', message: `a container named ${n} already exists` });
  const existingVolumes = new Set((pod.spec.volumes ?? []).map((v) => v.name));
  if (agent) {
    const clashes = [VOLUMES.config, VOLUMES.state, VOLUMES.buffer, ...agent.volumes.map((v) => v.name)].filter((v) => existingVolumes.has(v));
    for (const v of clashes) problems.push({ field: 'spec.volumes', message: `a volume named ${v} already exists; the agent sidecar is not injected` });
    if (clashes.length) agent = undefined;
  }

  if (problems.length && enforcement === 'required') return denied(object, problems);
  if (newNames.some((n) => existing.has(n))) return skipped(object, 'invalid', 'name clash with existing containers', warningsOf(problems, warnings));
  const agentStreams = agent ? plan.agentStreams : [];
  if (!agentStreams.length && !plan.streamingStreams.length) {
    return skipped(object, 'invalid', 'no valid stream to inject', warningsOf(problems, warnings));
  }

  const mutated = build(pod, plan, agent, native, policy, resources.resources);
  const injection: Injection = {
    version: 1,
    ...(agent ? { agent: plan.agent } : {}),
    native,
    streams: [
      ...plan.streamingStreams.map((s): InjectedStream => ({ name: s.name, mode: 'streaming', container: s.container })),
      ...agentStreams.map((s): InjectedStream => ({ name: s.name, mode: 'agent', container: s.container, output: s.outputName, outputType: s.output.type, critical: s.critical })),
    ].sort((a, b) => a.name.localeCompare(b.name)),
  };
  mutated.metadata!.annotations![STATUS] = JSON.stringify(injection);
  const patch = fastJsonPatch.compare(pod, mutated);
  return {
    allowed: true,
    patch,
    mutated,
    warnings: warningsOf(problems, warnings),
    injection,
    configs: agent ? agent.files.map((f) => ({ file: f.file, text: f.text })) : [],
  };
}

/** Apply the plan to a deep copy of the pod. */
function build(pod: Pod, plan: Plan, agent: AgentRender | undefined, native: boolean, policy: Policy, resources: ReturnType<typeof sidecarResources>['resources']): Pod {
  const d = policy.defaults;
  const out = structuredClone(pod);
  const spec = out.spec;
  const annotations = out.metadata!.annotations!;
  const agentVolumes = new Set(agent ? plan.agentStreams.map((s) => plan.streamVolume.get(s.name)!) : []);
  const streamingVolumes = new Set(plan.streamingStreams.map((s) => plan.streamVolume.get(s.name)!));
  const liveVolumes = plan.logVolumes.filter((v) => agentVolumes.has(v) || streamingVolumes.has(v));

  // The writing containers mount new log volumes at the file's directory.
  for (const { container, mount } of plan.appMounts) {
    if (!liveVolumes.some((v) => v.name === mount.name)) continue;
    const c = spec.containers.find((x) => x.name === container)!;
    c.volumeMounts = [...(c.volumeMounts ?? []), mount];
  }

  const identityOf = (writers: string[]) => sidecarIdentity(pod, writers, d.runAsUser).identity;
  const sidecars: Container[] = [];
  for (const s of plan.streamingStreams) {
    const c: Container = {
      ...renderStreaming(s, d.images.streaming),
      imagePullPolicy: d.imagePullPolicy,
      resources: resources.streaming,
      securityContext: restrictedSecurityContext(identityOf([s.container])),
      volumeMounts: [logMount(plan.streamVolume.get(s.name)!)],
    };
    sidecars.push(c);
  }
  const volumes: Volume[] = liveVolumes.filter((v) => v.isNew).map((v) => emptyDir(v.name, d.logVolumeSize));

  if (agent) {
    for (const f of agent.files) annotations[f.annotation] = f.text;
    const mounts: VolumeMount[] = [
      ...[...agentVolumes].map(logMount),
      { name: VOLUMES.config, mountPath: PATHS.config, readOnly: true },
      { name: VOLUMES.state, mountPath: PATHS.state },
      ...(agent.needsBuffer ? [{ name: VOLUMES.buffer, mountPath: PATHS.buffer }] : []),
      ...agent.mounts,
    ];
    sidecars.push({
      name: AGENT_CONTAINER,
      image: agent.image,
      imagePullPolicy: d.imagePullPolicy,
      command: agent.command,
      args: agent.args,
      env: [...factEnv(), ...agent.env],
      resources: resources.agent,
      securityContext: restrictedSecurityContext(identityOf(plan.agentStreams.map((s) => s.container))),
      volumeMounts: mounts,
      ...(agent.ports.length ? { ports: agent.ports.map((p) => ({ ...p })) } : {}),
      ...(agent.livenessProbe ? { livenessProbe: agent.livenessProbe } : {}),
    });
    // Prometheus' annotation convention, unless the pod already points it at its own metrics.
    const metricsPort = agent.ports.find((p) => p.name === 'sidelog-metrics');
    if (metricsPort && !Object.keys(annotations).some((k) => k.startsWith('prometheus.io/'))) {
      annotations['prometheus.io/scrape'] = 'true';
      annotations['prometheus.io/port'] = String(metricsPort.containerPort);
      if (agent.metricsPath) annotations['prometheus.io/path'] = agent.metricsPath;
    }
    volumes.push(
      {
        name: VOLUMES.config,
        downwardAPI: {
          items: agent.files.map((f) => ({ path: f.file, fieldRef: { fieldPath: `metadata.annotations['${f.annotation}']` } })),
          defaultMode: 0o444,
        },
      },
      emptyDir(VOLUMES.state, d.stateSize),
      ...(agent.needsBuffer ? [emptyDir(VOLUMES.buffer, d.bufferSize)] : []),
      ...agent.volumes,
    );
  }
  spec.volumes = [...(spec.volumes ?? []), ...volumes];
  if (native) {
    spec.initContainers = [...sidecars.map((c) => ({ ...c, restartPolicy: 'Always' })), ...(spec.initContainers ?? [])];
  } else {
    spec.containers = [...spec.containers, ...sidecars];
  }
  return out;
}

