/**
 * The injection core: `mutate(input)` takes the pod, the request facts and the policy, and returns
 * the JSON patch, the mutated pod, warnings, and why nothing was done when nothing was. No I/O, no
 * clock, no environment: the same input gives the same bytes.
 */
import type { Operation } from 'fast-json-patch';
import { renderFluentBit } from '../../sidecar-templates/fluent-bit/index.js';
import { renderFluentd } from '../../sidecar-templates/fluentd/index.js';
import { credentialsFor, factEnv, restrictedSecurityContext, tlsFor } from '../../sidecar-templates/common.js';
import { renderStreaming } from '../../sidecar-templates/streaming/index.js';
import { type AgentRender, type AgentRenderInput, type AgentStream, PATHS, VOLUMES, inAgentPortRange } from '../../sidecar-templates/types.js';
import { type AgentName, RESOURCES, STATUS, STREAMS, parsePodOptions, parseStreamsCached } from '../core/annotations.js';
import { type KubeVersion, useNativeSidecars } from '../core/kube-version.js';
import type { Policy } from '../core/policy.js';
import { type Additions, additionsPatch, applyAdditions } from '../core/patch.js';
import { renderMemo } from './render-memo.js';
import { type Container, type Pod, type Volume, type VolumeMount, PodSchema } from '../core/pod.js';
import { type Problem, problemText, zodProblems } from '../core/problems.js';
import { type Plan, type LogVolume, resolvePlan } from '../core/resolve.js';
import { sidecarIdentity } from '../core/identity.js';
import { AGENT_CONTAINER } from '../core/names.js';
import { sidecarResources } from '../core/resources.js';
import { type SkipCode, skipReason, unservableReason } from '../core/should-inject.js';
import { readStatus } from '../core/status.js';

export { AGENT_CONTAINER };
/** apimachinery TotalAnnotationSizeLimitB: the API server refuses a pod whose annotation keys and values exceed it. */
export const ANNOTATION_SIZE_LIMIT = 256 * 1024;
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
  /** The pod after the patch (the input itself when nothing changed); shares unchanged parts with the input: read-only. */
  readonly mutated: unknown;
  /** What the patch adds, when it adds anything: `patch` and `mutated` are both made from it. */
  readonly additions?: Additions;
  /** Already prefixed with `sidelog: `, ready for AdmissionResponse.warnings. */
  readonly warnings: string[];
  /** Set when sidelog did nothing; `code` is a stable metric label. */
  readonly skip?: { readonly code: SkipCode; readonly reason: string };
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

function skipped(object: unknown, code: SkipCode, reason: string, warnings: string[] = []): MutateResult {
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
  // Only ports an agent could pick matter: a pod may declare thousands, and each costs the render and its memo key.
  const ports = new Set<number>();
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    const declared = (c as { ports?: unknown }).ports;
    if (!Array.isArray(declared)) continue;
    for (const p of declared) {
      const n = p !== null && typeof p === 'object' ? (p as { containerPort?: unknown }).containerPort : undefined;
      if (typeof n === 'number' && inAgentPortRange(n)) ports.add(n);
    }
  }
  return { usedPorts: [...ports].sort((a, b) => a - b), hostNetwork: pod.spec.hostNetwork === true };
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
  // Read once: the skip filter and the injection below both need it.
  const status = readStatus(annotations[STATUS], object);
  const skip = skipReason({
    operation: input.operation ?? 'CREATE',
    kind: input.kind ?? 'Pod',
    subResource: input.subResource,
    annotations,
    pod: object,
    status,
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
  const cannot = unservableReason(pod);
  if (cannot) return skipped(object, cannot.code, cannot.reason, warningsOf([], [`not injected: ${cannot.reason}`]));

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
  // The `own` status was skipped above; any other status is not a reason to skip, and injection replaces it.
  if (status.kind === 'inconsistent') {
    problems.push({ field: STATUS, message: `claims sidecars the pod does not have (missing ${status.missing.join(', ')}), so it is not sidelog's record` });
  } else if (status.kind === 'malformed') {
    warnings.push(`${STATUS} ${status.reason}; it is not sidelog's record and is ignored`);
  }

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
  let agentStreams: AgentStream[] = [];
  const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
  const flushSeconds = Math.max(1, Math.min(policy.defaults.flushSeconds, grace - GRACE_MARGIN));
  if (plan.agentStreams.length) {
    if (grace - GRACE_MARGIN < policy.defaults.flushSeconds) {
      warnings.push(`spec.terminationGracePeriodSeconds: ${grace}s leaves the log agent ${flushSeconds}s to flush (policy: ${policy.defaults.flushSeconds}s); set it to at least ${policy.defaults.flushSeconds + GRACE_MARGIN} so buffered logs are delivered at shutdown`);
    }
    const rendered = renderAgent(pod, plan, {
      defaults: policy.defaults,
      flushSeconds,
      namespace,
      memoryLimit: resources.resources.agent.limits?.memory ?? resources.resources.agent.requests?.memory,
      network: podNetwork(pod),
    });
    problems.push(...rendered.problems);
    agent = rendered.agent;
    agentStreams = rendered.streams;
    if (agent) warnings.push(...agent.warnings, ...sidecarIdentity(pod, agentStreams.map((s) => s.container), policy.defaults.runAsUser).warnings);
  }

  if (problems.length && enforcement === 'required') return denied(object, problems);
  if (!agentStreams.length && !plan.streamingStreams.length) {
    return skipped(object, 'invalid', 'no valid stream to inject', warningsOf(problems, warnings));
  }

  const additions = build(pod, plan, agent ? { render: agent, streams: agentStreams } : undefined, native, policy, resources.resources);
  const injection: Injection = {
    version: 1,
    ...(agent ? { agent: plan.agent } : {}),
    native,
    streams: [
      ...plan.streamingStreams.map((s): InjectedStream => ({ name: s.name, mode: 'streaming', container: s.container })),
      ...agentStreams.map((s): InjectedStream => ({ name: s.name, mode: 'agent', container: s.container, output: s.outputName, outputType: s.output.type, critical: s.critical })),
    ].sort((a, b) => a.name.localeCompare(b.name)),
  };
  additions.annotations[STATUS] = JSON.stringify(injection);
  const size = annotationBytes({ ...ann, ...additions.annotations });
  if (size > ANNOTATION_SIZE_LIMIT) {
    const reason = `the pod's annotations would total ${size} bytes with sidelog's config and status, over the API server's ${ANNOTATION_SIZE_LIMIT}-byte limit`;
    return skipped(object, 'annotations-too-large', reason, warningsOf(problems, [...warnings, `not injected: ${reason}; shorten the pod's other annotations or use fewer streams`]));
  }
  let mutated: Pod | undefined;
  return {
    allowed: true,
    patch: additionsPatch(pod, additions),
    // Made when first read (preview, the CLI): the webhook answers with the patch alone.
    get mutated() {
      return (mutated ??= applyAdditions(pod, additions));
    },
    additions,
    warnings: warningsOf(problems, warnings),
    injection,
    configs: agent ? agent.files.map((f) => ({ file: f.file, text: f.text })) : [],
  };
}

/** Annotation size as the API server counts it (ValidateAnnotationsSize): bytes of every key and value. */
export function annotationBytes(annotations: Readonly<Record<string, unknown>>): number {
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) size += Buffer.byteLength(k, 'utf8') + Buffer.byteLength(typeof v === 'string' ? v : '', 'utf8');
  return size;
}

/** "app (sidelog.io/streams[0]), audit (sidelog.io/streams[2])": every stream a problem drops. */
function streamList(streams: readonly AgentStream[]): string {
  return streams.map((s) => `${s.name} (${STREAMS}[${s.index}])`).join(', ');
}

/**
 * Render the agent for the plan's agent-mode streams. A problem that concerns one stream (its
 * credentials, its Fluentd image) drops that stream alone and the agent is rendered again for the
 * others; a problem that stops the whole agent (its container or volume names taken, a render
 * error) drops every agent-mode stream, and the problem names each of them.
 */
function renderAgent(pod: Pod, plan: Plan, base: Omit<AgentRenderInput, 'streams'>): { agent?: AgentRender; streams: AgentStream[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const containers = new Set([...pod.spec.containers, ...(pod.spec.initContainers ?? []), ...(pod.spec.ephemeralContainers ?? [])].map((c) => c.name));
  const volumes = new Set((pod.spec.volumes ?? []).map((v) => v.name));
  const stopAll = (field: string, reason: string, streams: readonly AgentStream[]) => {
    problems.push({ field, message: `${reason}, so the agent sidecar cannot run; agent-mode streams not injected: ${streamList(streams)}` });
    return { streams: [], problems };
  };
  if (containers.has(AGENT_CONTAINER)) return stopAll('spec.containers', `a container named ${AGENT_CONTAINER} already exists`, plan.agentStreams);
  const fixed = [VOLUMES.config, VOLUMES.state].filter((v) => volumes.has(v));
  if (fixed.length) return stopAll('spec.volumes', `a volume named ${fixed.join(' and ')} already exists`, plan.agentStreams);

  // A stream whose credential volume name is taken by one of the pod's volumes cannot get its credentials.
  let streams = plan.agentStreams.filter((s) => {
    const clash = [...credentialsFor(s.outputName, s.output).volumes, ...tlsFor(s.outputName, s.output).volumes].find((v) => volumes.has(v.name));
    if (clash) problems.push({ field: `${STREAMS}[${s.index}].output`, message: `stream "${s.name}" is not injected: its credentials volume ${clash.name} is already a volume of the pod` });
    return !clash;
  });
  // Each round drops at least one stream, so this ends.
  while (streams.length) {
    let agent: AgentRender;
    try {
      agent = renderMemo.render(plan.agent, AGENT_RENDERERS[plan.agent], { ...base, streams });
    } catch (e) {
      return stopAll(STREAMS, `cannot render the ${plan.agent} config (${(e as Error).message})`, streams);
    }
    const own = agent.problems.filter((p) => p.stream !== undefined);
    const whole = agent.problems.filter((p) => p.stream === undefined);
    if (whole.length) {
      for (const p of whole.slice(1)) problems.push({ field: p.field, message: p.message });
      return stopAll(whole[0]!.field, whole[0]!.message, streams);
    }
    if (own.length === 0) {
      if (agent.needsBuffer && volumes.has(VOLUMES.buffer)) return stopAll('spec.volumes', `a volume named ${VOLUMES.buffer} already exists`, streams);
      return { agent, streams, problems };
    }
    const dropped = new Set(own.map((p) => p.stream));
    problems.push(...own.map((p) => ({ field: p.field, message: p.message })));
    streams = streams.filter((s) => !dropped.has(s.index));
  }
  return { streams, problems };
}

interface AgentPart {
  readonly render: AgentRender;
  /** The agent-mode streams that survived rendering. */
  readonly streams: readonly AgentStream[];
}

/** What the plan adds to the pod (the pod itself is not changed). */
function build(pod: Pod, plan: Plan, agentPart: AgentPart | undefined, native: boolean, policy: Policy, resources: ReturnType<typeof sidecarResources>['resources']): Additions & { annotations: Record<string, string> } {
  const d = policy.defaults;
  const spec = pod.spec;
  const annotations: Record<string, string> = {};
  const agent = agentPart?.render;
  const agentVolumes = new Set((agentPart?.streams ?? []).map((s) => plan.streamVolume.get(s.name)!));
  const streamingVolumes = new Set(plan.streamingStreams.map((s) => plan.streamVolume.get(s.name)!));
  const liveVolumes = plan.logVolumes.filter((v) => agentVolumes.has(v) || streamingVolumes.has(v));

  // The writing containers mount new log volumes at the file's directory.
  const appMounts = new Map<number, VolumeMount[]>();
  for (const { container, mount } of plan.appMounts) {
    if (!liveVolumes.some((v) => v.name === mount.name)) continue;
    const index = spec.containers.findIndex((x) => x.name === container);
    appMounts.set(index, [...(appMounts.get(index) ?? []), mount]);
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
      securityContext: restrictedSecurityContext(identityOf((agentPart?.streams ?? []).map((s) => s.container))),
      volumeMounts: mounts,
      ...(agent.ports.length ? { ports: agent.ports.map((p) => ({ ...p })) } : {}),
      ...(agent.livenessProbe ? { livenessProbe: agent.livenessProbe } : {}),
    });
    // Prometheus' annotation convention, unless the pod already points it at its own metrics.
    const metricsPort = agent.ports.find((p) => p.name === 'sidelog-metrics');
    if (metricsPort && !Object.keys(pod.metadata?.annotations ?? {}).some((k) => k.startsWith('prometheus.io/'))) {
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
  return {
    appMounts: [...appMounts].sort(([a], [b]) => a - b).map(([index, mounts]) => ({ index, mounts })),
    volumes,
    sidecars: native ? sidecars.map((c) => ({ ...c, restartPolicy: 'Always' })) : sidecars,
    native,
    annotations,
  };
}

