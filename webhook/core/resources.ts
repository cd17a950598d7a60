/**
 * Sidecar resources: the policy defaults, optionally raised or lowered by the pod's
 * `sidelog.io/resources` annotation, never above the policy maxima.
 */
import { z } from 'zod';
import { RESOURCES } from './annotations.js';
import type { Defaults } from './policy.js';
import type { ResourceRequirements } from './pod.js';
import { type Problem, zodProblems } from './problems.js';
import { isQuantity, parseQuantity } from './quantity.js';
import { parseYamlDocument } from './yaml.js';

/** A resources annotation is a few dozen bytes; anything much larger is refused before parsing. */
const MAX_RESOURCES_BYTES = 2048;

const quantity = z.string().refine(isQuantity, 'must be a Kubernetes quantity such as 100m or 128Mi');
const list = z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() });
const req = z.strictObject({ requests: list.optional(), limits: list.optional() });
const ResourcesAnnotation = z.strictObject({ agent: req.optional(), streaming: req.optional() });

export type SidecarKind = 'agent' | 'streaming';
export type SidecarResources = Record<SidecarKind, ResourceRequirements>;

function clean(r: { cpu?: string | undefined; memory?: string | undefined }): Record<string, string> {
  const out: Record<string, string> = {};
  if (r.cpu !== undefined) out.cpu = r.cpu;
  if (r.memory !== undefined) out.memory = r.memory;
  return out;
}

function requirements(requests: Record<string, string>, limits: Record<string, string>): ResourceRequirements {
  const out: ResourceRequirements = {};
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return out;
}

/** Resources for each sidecar kind; problems name the annotation field that was ignored. */
export function sidecarResources(defaults: Defaults, annotation: string | undefined): { resources: SidecarResources; problems: Problem[] } {
  const resources: SidecarResources = {
    agent: requirements(clean(defaults.resources.agent.requests), clean(defaults.resources.agent.limits)),
    streaming: requirements(clean(defaults.resources.streaming.requests), clean(defaults.resources.streaming.limits)),
  };
  if (annotation === undefined) return { resources, problems: [] };
  if (annotation.length > MAX_RESOURCES_BYTES) return { resources, problems: [{ field: RESOURCES, message: `must be at most ${MAX_RESOURCES_BYTES} bytes` }] };
  let doc: unknown;
  try {
    doc = parseYamlDocument(annotation);
  } catch {
    return { resources, problems: [{ field: RESOURCES, message: 'is not valid YAML or JSON' }] };
  }
  const parsed = ResourcesAnnotation.safeParse(doc);
  if (!parsed.success) return { resources, problems: zodProblems(RESOURCES, parsed.error) };
  const problems: Problem[] = [];
  for (const kind of ['agent', 'streaming'] as const) {
    const asked = parsed.data[kind];
    if (!asked) continue;
    const requests = { ...resources[kind].requests, ...clean(asked.requests ?? {}) };
    const limits = { ...resources[kind].limits, ...clean(asked.limits ?? {}) };
    let ok = true;
    for (const [side, values] of [['requests', requests], ['limits', limits]] as const) {
      for (const res of ['cpu', 'memory'] as const) {
        const v = values[res];
        const max = defaults.resources.max[res];
        if (v !== undefined && max !== undefined && parseQuantity(v)! > parseQuantity(max)!) {
          problems.push({ field: `${RESOURCES}.${kind}.${side}.${res}`, message: `${v} exceeds the policy maximum ${max}; the default is used` });
          ok = false;
        }
      }
    }
    for (const res of ['cpu', 'memory'] as const) {
      const r = requests[res];
      const l = limits[res];
      if (r !== undefined && l !== undefined && parseQuantity(r)! > parseQuantity(l)!) {
        problems.push({ field: `${RESOURCES}.${kind}.requests.${res}`, message: `${r} exceeds the limit ${l}; the default is used` });
        ok = false;
      }
    }
    if (ok) resources[kind] = requirements(requests, limits);
  }
  return { resources, problems };
}
