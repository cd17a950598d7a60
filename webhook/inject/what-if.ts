/**
 * What-if: what a policy change does to the workloads already running. Each workload's pod
 * template is previewed (the webhook's own code, webhook/inject/preview.ts) under the policy in force
 * and under the new one, and the two answers compared: streams gained or lost, outputs the new
 * policy refuses, new warnings, pods a `required` namespace would now refuse, and the generated
 * agent configs and sidecar containers as a short unified diff. Pure.
 */
import { createTwoFilesPatch } from 'diff';
import { stringify as toYaml } from 'yaml';
import { AGENT_CONFIG, AGENT_PARSERS, STATUS, STREAMS, parseStreams } from '../core/annotations.js';
import type { KubeVersion } from '../core/kube-version.js';
import type { Enforcement, InjectedStream } from './mutate.js';
import { type Policy, rulesFor } from '../core/policy.js';
import { type PreviewResult, TEMPLATE_PATH, previewObject } from './preview.js';

/** One workload as read from the cluster, with the enforcement of its namespace. */
export interface Subject {
  readonly object: unknown;
  readonly enforcement: Enforcement;
}

export interface RefusedOutput {
  readonly stream: string;
  readonly output: string;
}

export interface WorkloadChange {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly changed: boolean;
  /** `name (mode[, output])` of streams injected under the new policy only. */
  readonly gained: string[];
  readonly lost: string[];
  /** Streams injected under both, but differently: `name: before -> after`. */
  readonly modified: string[];
  /** Outputs the workload's streams name that the new policy no longer allows in its namespace. */
  readonly refused: RefusedOutput[];
  readonly newWarnings: string[];
  /** Set when a `required` namespace would refuse the workload's new pods under the new policy only. */
  readonly newDenial?: string;
  /**
   * Unified diff of the generated agent configs and the sidecar containers ('' when equal); a file
   * that comes or goes entirely is one line (`current/fluent-bit.conf: removed (43 lines)`).
   */
  readonly diff: string;
}

export interface WhatIfOptions {
  readonly current: Policy;
  readonly next: Policy;
  readonly kubeVersion?: KubeVersion | undefined;
  /** Lines of context in the diff. */
  readonly context?: number;
}

type Obj = Record<string, any>;

function streamText(s: InjectedStream): string {
  return `${s.mode}${s.output ? ` -> ${s.output}` : ''}${s.critical ? ', critical' : ''}, container ${s.container}`;
}

/** The pod (template) of a previewed object. */
function podOf(mutated: unknown, kind: string): Obj | undefined {
  let node = mutated as Obj | undefined;
  for (const key of TEMPLATE_PATH[kind] ?? []) node = node?.[key];
  return node;
}

/** What the diff compares: each generated config file, and the sidecar containers as YAML. */
function files(r: PreviewResult): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of r.configs) out.set(c.file, c.text.endsWith('\n') ? c.text : `${c.text}\n`);
  const spec = podOf(r.mutated, r.kind)?.spec as Obj | undefined;
  const sidecars = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].filter((c: Obj) => typeof c.name === 'string' && c.name.startsWith('sidelog-'));
  if (sidecars.length) out.set('sidecars.yaml', toYaml(sidecars.map(({ name, image, args, resources, restartPolicy }: Obj) => ({ name, image, ...(args ? { args } : {}), ...(resources ? { resources } : {}), ...(restartPolicy ? { restartPolicy } : {}) })), { lineWidth: 0 }));
  return out;
}

function unifiedDiff(before: Map<string, string>, after: Map<string, string>, context: number): string {
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  const parts: string[] = [];
  for (const n of names) {
    const a = before.get(n) ?? '';
    const b = after.get(n) ?? '';
    if (a === b) continue;
    // A file that comes or goes entirely is one line, not its whole text.
    const lines = (t: string) => t.split('\n').length - (t.endsWith('\n') ? 1 : 0);
    if (!after.has(n)) {
      parts.push(`current/${n}: removed (${lines(a)} lines)`);
      continue;
    }
    if (!before.has(n)) {
      parts.push(`new/${n}: added (${lines(b)} lines)`);
      continue;
    }
    const patch = createTwoFilesPatch(`current/${n}`, `new/${n}`, a, b, undefined, undefined, { context });
    // Drop the `====` banner and the `Index:` line the library adds.
    parts.push(patch.split('\n').filter((l) => !/^(=+|Index: .*)$/.test(l)).join('\n').trimEnd());
  }
  return parts.length ? `${parts.join('\n')}\n` : '';
}

/** The streams' requested outputs (agent mode) that `policy` lets this namespace use. */
function requestedOutputs(pod: Obj | undefined): Array<{ stream: string; output: string }> {
  const text = pod?.metadata?.annotations?.[STREAMS];
  if (typeof text !== 'string') return [];
  return parseStreams(text).streams.filter((s) => s.mode === 'agent' && s.spec.output !== undefined).map((s) => ({ stream: s.spec.name ?? s.field, output: s.spec.output! }));
}

function allows(policy: Policy, namespace: string, output: string): boolean {
  return Object.hasOwn(policy.outputs, output) && rulesFor(policy, namespace).outputs.includes(output);
}

/** Compare one workload under both policies. Throws InputError when the object cannot be previewed. */
export function compareWorkload(subject: Subject, opts: WhatIfOptions): WorkloadChange {
  const preview = (policy: Policy) => previewObject(subject.object, { policy, kubeVersion: opts.kubeVersion, enforcement: subject.enforcement });
  const before = preview(opts.current);
  const after = preview(opts.next);
  const was = new Map((before.injection?.streams ?? []).map((s) => [s.name, s]));
  const now = new Map((after.injection?.streams ?? []).map((s) => [s.name, s]));
  const gained = [...now.values()].filter((s) => !was.has(s.name)).map((s) => `${s.name} (${streamText(s)})`);
  const lost = [...was.values()].filter((s) => !now.has(s.name)).map((s) => `${s.name} (${streamText(s)})`);
  const modified = [...now.values()].filter((s) => was.has(s.name) && streamText(s) !== streamText(was.get(s.name)!)).map((s) => `${s.name}: ${streamText(was.get(s.name)!)} => ${streamText(s)}`);
  // A pod the webhook leaves alone under both policies (opted out, already carrying a status) loses nothing.
  const injectable = before.injection !== undefined || after.injection !== undefined;
  const refused = injectable ? requestedOutputs(podOf(subject.object, before.kind)).filter((r) => allows(opts.current, before.namespace, r.output) && !allows(opts.next, before.namespace, r.output)) : [];
  const oldWarnings = new Set(before.warnings);
  const newWarnings = after.warnings.filter((w) => !oldWarnings.has(w));
  const newDenial = !after.allowed && before.allowed ? after.denial : undefined;
  const diff = unifiedDiff(files(before), files(after), opts.context ?? 2);
  const changed = gained.length + lost.length + modified.length + refused.length + newWarnings.length > 0 || newDenial !== undefined || diff !== '';
  return { kind: before.kind, namespace: before.namespace, name: before.name, changed, gained, lost, modified, refused, newWarnings, ...(newDenial !== undefined ? { newDenial } : {}), diff };
}

const OWN_VOLUME = /^sidelog-(logs-\d+|config|state|buffer|cred-.+|tls-.+)$/;

/**
 * A running pod as it was before the webhook injected it: the sidecars, the volumes and mounts
 * sidelog added and its annotations removed, so that the pod can be previewed again. Only pods
 * that carry `sidelog.io/status` are changed. (A pod's own volume named like sidelog's,
 * `sidelog-logs-0`, would be removed too: the webhook never creates such a clash.)
 */
export function uninject(pod: unknown): unknown {
  const p = structuredClone(pod) as Obj;
  const ann = p?.metadata?.annotations as Obj | undefined;
  if (!ann || ann[STATUS] === undefined) return p;
  for (const key of [STATUS, AGENT_CONFIG, AGENT_PARSERS]) delete ann[key];
  const spec = p.spec as Obj;
  const ours = (c: Obj) => typeof c.name === 'string' && c.name.startsWith('sidelog-');
  // sidelog points Prometheus at its agent's metrics port only when the pod had no prometheus.io/* of its own.
  const metricsPort = [...(spec.containers ?? []), ...(spec.initContainers ?? [])]
    .filter(ours)
    .flatMap((c: Obj) => (Array.isArray(c.ports) ? c.ports : []))
    .find((port: Obj) => port.name === 'sidelog-metrics')?.containerPort;
  if (metricsPort !== undefined && ann['prometheus.io/port'] === String(metricsPort)) {
    for (const key of ['prometheus.io/scrape', 'prometheus.io/port', 'prometheus.io/path']) delete ann[key];
  }
  spec.containers = (spec.containers ?? []).filter((c: Obj) => !ours(c));
  if (spec.initContainers) {
    spec.initContainers = spec.initContainers.filter((c: Obj) => !ours(c));
    if (!spec.initContainers.length) delete spec.initContainers;
  }
  const removed = new Set<string>();
  if (spec.volumes) {
    spec.volumes = spec.volumes.filter((v: Obj) => {
      if (!OWN_VOLUME.test(v.name)) return true;
      removed.add(v.name);
      return false;
    });
    if (!spec.volumes.length) delete spec.volumes;
  }
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    if (!c.volumeMounts) continue;
    c.volumeMounts = c.volumeMounts.filter((m: Obj) => !removed.has(m.name));
    if (!c.volumeMounts.length) delete c.volumeMounts;
  }
  return p;
}
