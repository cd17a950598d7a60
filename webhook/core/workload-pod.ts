/**
 * The pod a controller creates from a workload, as the webhook receives it at admission, and the
 * way back from that pod to the workload's template. Pure.
 *
 * What happens to a pod before sidelog sees it (and what the preview therefore reproduces):
 * - the controller copies the template's labels and annotations (never its name or namespace),
 *   names the pod (`generateName: <owner>-`; a StatefulSet names it `<set>-<ordinal>`) and adds
 *   its own labels (StatefulSet pod name and index, the Job's `job-name` labels);
 * - a StatefulSet adds one `persistentVolumeClaim` volume per `volumeClaimTemplates` entry
 *   (`<claim>-<set>-<ordinal>`, replacing a template volume of the same name), and sets
 *   `hostname` and `subdomain`;
 * - the API server puts the request's namespace in `metadata.namespace` and applies the Pod
 *   defaults sidelog reads: `restartPolicy: Always`, `terminationGracePeriodSeconds: 30`, and an
 *   `emptyDir` for a volume that names no source;
 * - the API server refuses a workload whose template cannot make pods (a Job without
 *   `restartPolicy: Never|OnFailure`, a Deployment whose pods do not restart `Always`).
 * Left out because sidelog never reads them: the hash parts of generated names and the
 * `pod-template-hash` / `controller-revision-hash` / `controller-uid` labels (they are unknowable
 * offline), owner references, a DaemonSet's node affinity and tolerations, an Indexed Job's
 * completion-index annotation and `JOB_COMPLETION_INDEX` env, and what the API server's built-in
 * admission plugins add before webhooks run (the ServiceAccount token volume, LimitRanger defaults).
 */
import { type Container, type Obj, type Pod, type Volume, isObject } from './pod.js';
import type { Problem } from './problems.js';

/** Where each kind keeps its pod template. */
export const TEMPLATE_PATH: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** The restart policies the API server accepts in each kind's pods (unset means Always). */
const RESTART_POLICIES: Readonly<Record<string, readonly string[]>> = {
  Pod: ['Always', 'OnFailure', 'Never'],
  Deployment: ['Always'],
  StatefulSet: ['Always'],
  DaemonSet: ['Always'],
  ReplicaSet: ['Always'],
  Job: ['OnFailure', 'Never'],
  CronJob: ['OnFailure', 'Never'],
};

export interface AdmissionPod {
  /** The pod as the webhook receives it. */
  readonly pod: Pod;
  /** The manifest's own pod (the Pod itself, or the template as a Pod): what the preview patches. */
  readonly template: Pod;
  /** Dotted path of the template in the manifest (empty for a Pod). */
  readonly path: readonly string[];
}

/**
 * The pod a controller would create from `doc` (a Pod or a workload of a kind in TEMPLATE_PATH),
 * or the problems that stop the API server from accepting the manifest. `kind` is checked by the caller.
 */
export function admissionPod(doc: Obj, kind: string, namespace: string): { value: AdmissionPod } | { problems: Problem[] } {
  const path = TEMPLATE_PATH[kind] ?? [];
  let node: unknown = doc;
  for (const [i, key] of path.entries()) {
    if (!isObject(node) || !isObject(node[key])) return { problems: [{ field: path.slice(0, i + 1).join('.'), message: 'required' }] };
    node = node[key];
  }
  const source = node as Obj;
  const template = (kind === 'Pod' ? source : { apiVersion: 'v1', kind: 'Pod', metadata: source.metadata ?? {}, spec: source.spec }) as Pod;
  const specField = [...path, 'spec'].join('.');
  if (!isObject(template.spec)) return { problems: [{ field: specField, message: 'required' }] };
  const allowed = RESTART_POLICIES[kind]!;
  const restartPolicy = template.spec.restartPolicy ?? (kind === 'Job' || kind === 'CronJob' ? undefined : 'Always');
  if (restartPolicy === undefined || !allowed.includes(restartPolicy)) {
    const article = /^[AEIOU]/.test(kind) ? 'an' : 'a';
    return {
      problems: [{ field: `${specField}.restartPolicy`, message: `${article} ${kind}'s pods must use ${allowed.join(' or ')}${restartPolicy === undefined ? ' (it is unset)' : `, not ${restartPolicy}`}: the API server refuses this ${kind}` }],
    };
  }

  const meta = isObject(doc.metadata) ? doc.metadata : {};
  const ownerName = typeof meta.name === 'string' ? meta.name : '';
  const templateMeta = isObject(template.metadata) ? template.metadata : {};
  const labels: Record<string, string> = { ...(isObject(templateMeta.labels) ? (templateMeta.labels as Record<string, string>) : {}) };
  const metadata: Obj = kind === 'Pod' ? { ...templateMeta } : {};
  if (kind !== 'Pod') {
    if (isObject(templateMeta.annotations)) metadata.annotations = { ...templateMeta.annotations };
    if (Array.isArray(templateMeta.finalizers)) metadata.finalizers = [...templateMeta.finalizers];
  }
  // The defaults below read volumes; their shape is the API server's to refuse, named, never a crash here.
  const volumes: unknown = template.spec.volumes;
  if (volumes !== undefined && volumes !== null && !(Array.isArray(volumes) && volumes.every((v) => isObject(v)))) {
    return { problems: [{ field: `${specField}.volumes`, message: 'must be a list of volumes' }] };
  }
  // Only top-level fields change below: a shallow copy shares the rest (a manifest can be 1 MiB).
  const spec = { ...template.spec };
  spec.restartPolicy = restartPolicy;
  spec.terminationGracePeriodSeconds ??= 30;
  if (spec.volumes) spec.volumes = spec.volumes.map(defaultVolume);

  if (kind === 'StatefulSet') {
    const setSpec = doc.spec as Obj;
    const ordinals = isObject(setSpec.ordinals) && typeof setSpec.ordinals.start === 'number' ? setSpec.ordinals.start : 0;
    const podName = `${ownerName}-${ordinals}`;
    metadata.name = podName;
    labels['statefulset.kubernetes.io/pod-name'] = podName;
    labels['apps.kubernetes.io/pod-index'] = String(ordinals);
    const claims: Volume[] = (Array.isArray(setSpec.volumeClaimTemplates) ? setSpec.volumeClaimTemplates : [])
      .filter((c): c is Obj => isObject(c) && isObject(c.metadata) && typeof c.metadata.name === 'string')
      .map((c) => {
        const claim = (c.metadata as Obj).name as string;
        return { name: claim, persistentVolumeClaim: { claimName: `${claim}-${podName}` } };
      });
    if (claims.length) {
      const claimed = new Set(claims.map((c) => c.name));
      spec.volumes = [...claims, ...(spec.volumes ?? []).filter((v) => !claimed.has(v.name))];
    }
    spec.hostname = podName;
    if (typeof setSpec.serviceName === 'string' && setSpec.serviceName) spec.subdomain = setSpec.serviceName;
  } else if (kind === 'Job' || kind === 'CronJob') {
    // A CronJob's Job is named `<cronjob>-<scheduled minute>`: unknowable offline, the owner's name stands in.
    metadata.generateName = `${ownerName}-`;
    labels['batch.kubernetes.io/job-name'] ??= ownerName;
    labels['job-name'] ??= ownerName;
  } else if (kind !== 'Pod') {
    metadata.generateName = `${ownerName}-`;
  }
  if (Object.keys(labels).length) metadata.labels = labels;
  metadata.namespace = namespace;
  return { value: { pod: { apiVersion: 'v1', kind: 'Pod', metadata, spec } as Pod, template, path } };
}

/** The API server's default for a volume that names no source is an emptyDir. */
function defaultVolume(v: Volume): Volume {
  return Object.keys(v).some((k) => k !== 'name') ? v : { ...v, emptyDir: {} };
}

/**
 * The manifest's own pod with what sidelog added to the admission pod: new annotations, new
 * containers, new mounts in existing containers, new volumes. What the controller or the API
 * server added stays out, so the template keeps making the same pods.
 */
export function withSidelogChanges(template: Pod, admitted: Pod, mutated: Pod): Pod {
  // metadata and spec are replaced below, never changed in place: the rest is shared.
  const out = { ...template };
  const before = admitted.metadata?.annotations ?? {};
  const after = mutated.metadata?.annotations ?? {};
  const changed = Object.entries(after).filter(([k, v]) => before[k] !== v);
  if (changed.length) out.metadata = { ...out.metadata, annotations: { ...out.metadata?.annotations, ...Object.fromEntries(changed) } };

  const restore = (list: Container[] | undefined, admittedList: Container[] | undefined, own: Container[] | undefined): Container[] | undefined => {
    if (!list) return own;
    const was = new Map((admittedList ?? []).map((c) => [c.name, c]));
    const mine = new Map((own ?? []).map((c) => [c.name, c]));
    return list.map((c) => {
      const old = was.get(c.name);
      if (!old) return c;
      const base = structuredClone(mine.get(c.name) ?? old);
      const oldMounts = new Set((old.volumeMounts ?? []).map((m) => JSON.stringify(m)));
      const added = (c.volumeMounts ?? []).filter((m) => !oldMounts.has(JSON.stringify(m)));
      if (added.length) base.volumeMounts = [...(base.volumeMounts ?? []), ...added];
      return base;
    });
  };
  const changes: Record<string, unknown> = { containers: restore(mutated.spec.containers, admitted.spec.containers, template.spec.containers) };
  const init = restore(mutated.spec.initContainers, admitted.spec.initContainers, template.spec.initContainers);
  if (init) changes.initContainers = init;
  const oldVolumes = new Set((admitted.spec.volumes ?? []).map((v) => v.name));
  const newVolumes = (mutated.spec.volumes ?? []).filter((v) => !oldVolumes.has(v.name));
  if (newVolumes.length) changes.volumes = [...(template.spec.volumes ?? []), ...newVolumes];
  // The template's fields in their order, then the fields sidelog added in the order it added them.
  const keys = [...Object.keys(template.spec), ...Object.keys(mutated.spec).filter((k) => k in changes && !(k in template.spec))];
  out.spec = Object.fromEntries(keys.map((k) => [k, k in changes ? changes[k] : out.spec[k]])) as Pod['spec'];
  return out;
}
