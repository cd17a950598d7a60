/**
 * `sidelog what-if --policy NEW.yaml`: for every workload in a labelled namespace that carries
 * sidelog annotations, the injection under the policy in force (ConfigMap sidelog/sidelog-policy)
 * and under NEW, compared (webhook/inject/what-if.ts). Read-only.
 * Exit 0: nothing changes; 2: something changes; 1: NEW does not load (the message names the
 * field) or the cluster cannot be read.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { STREAMS } from '../core/annotations.js';
import { type OwnerReference, enforcementOf } from '../inject/audit.js';
import { parseKubeVersion } from '../core/kube-version.js';
import { parsePolicy } from '../core/policy.js';
import { loadRegexEngine } from '../core/regex.js';
import { type Subject, type WorkloadChange, compareWorkload, uninject } from '../inject/what-if.js';
import { TEMPLATE_PATH } from '../inject/preview.js';
import { CLUSTER_FLAGS, type Out, configMapRef, kubeTarget, outputFormat, policyFromConfigMap } from './common.js';

export const WHAT_IF_FLAGS = { ...CLUSTER_FLAGS, policy: { type: 'string' }, 'kube-version': { type: 'string' } } as const;
export const WHAT_IF_USAGE = `what-if --policy NEW.yaml [-n|--namespace NS | -A|--all-namespaces] [-o|--output table|json] [--kubeconfig FILE]
      [--context NAME] [--policy-configmap sidelog/sidelog-policy] [--kube-version X.Y]
    For every workload in labelled namespaces that carries sidelog annotations: what changes under NEW
    against the policy in force. Exit 0 nothing changes; 2 something changes; 1 NEW does not load.
`;

type Json = Record<string, any>;

/** Objects created by a controller sidelog already looks at through its owner. */
const OWNED_BY: Readonly<Record<string, readonly string[]>> = {
  // A ReplicaSet of a Deployment and a Job of a CronJob are previewed through the Deployment and CronJob.
  ReplicaSet: ['Deployment'],
  Job: ['CronJob'],
};

/** A bare pod, or a workload not owned by one sidelog previews, whose pod template sets sidelog.io/streams. */
function isSubject(o: Json): boolean {
  const owners = (o.metadata?.ownerReferences ?? []) as OwnerReference[];
  if (o.kind === 'Pod' && owners.length) return false;
  const skip = OWNED_BY[o.kind];
  if (skip && owners.some((r) => skip.includes(r.kind))) return false;
  let template: Json | undefined = o;
  for (const key of TEMPLATE_PATH[o.kind] ?? []) template = template?.[key];
  return typeof template?.metadata?.annotations?.[STREAMS] === 'string';
}

export interface WhatIfReport {
  readonly current: string;
  readonly next: string;
  readonly kubeVersion: string | null;
  readonly workloadsChecked: number;
  readonly changed: number;
  readonly workloads: WorkloadChange[];
}

function indent(text: string, by: string): string {
  return text.trimEnd().split('\n').map((l) => `${by}${l}`).join('\n');
}

/** Lines of diff shown per change in the table (-o json has all of it). */
const MAX_DIFF_LINES = 40;

function render(r: WhatIfReport): string {
  // Workloads whose change is the same (one template, several kinds) are listed together.
  const groups = new Map<string, WorkloadChange[]>();
  for (const w of r.workloads) {
    const { kind: _k, name: _n, namespace: _ns, ...change } = w;
    const key = JSON.stringify(change);
    groups.set(key, [...(groups.get(key) ?? []), w]);
  }
  const blocks = [...groups.values()].map((ws) => {
    const w = ws[0]!;
    const lines = ws.map((x) => `${x.kind.toLowerCase()}/${x.name} -n ${x.namespace}`);
    for (const s of w.gained) lines.push(`  + stream ${s}`);
    for (const s of w.lost) lines.push(`  - stream ${s}`);
    for (const s of w.modified) lines.push(`  ~ stream ${s}`);
    for (const o of w.refused) lines.push(`  ! output ${o.output} refused (stream ${o.stream})`);
    if (w.newDenial) lines.push(`  ! new pods would be refused: ${w.newDenial}`);
    for (const x of w.newWarnings) lines.push(`  ! new warning: ${x}`);
    if (w.diff) {
      const diff = w.diff.trimEnd().split('\n');
      const shown = diff.length > MAX_DIFF_LINES ? [...diff.slice(0, MAX_DIFF_LINES), `... ${diff.length - MAX_DIFF_LINES} more lines (-o json shows all)`] : diff;
      lines.push(indent(shown.join('\n'), '    '));
    }
    return lines.join('\n');
  });
  const summary = `${r.changed} of ${r.workloadsChecked} workloads change (policy in force: ${r.current}; new: ${r.next}; Kubernetes ${r.kubeVersion ?? 'version unknown'}).`;
  return `${blocks.length ? `${blocks.join('\n\n')}\n\n` : ''}${summary}\n`;
}

export async function whatIf(argv: string[], io: Out): Promise<number> {
  const { values } = parseArgs({ args: argv, options: WHAT_IF_FLAGS, strict: true });
  const format = outputFormat(values.output);
  if (values.policy === undefined) throw new Error('--policy NEW.yaml is required');
  if (values['all-namespaces'] && values.namespace !== undefined) throw new Error('use -n NAMESPACE or -A, not both');
  const kubeVersionFlag = values['kube-version'];
  if (kubeVersionFlag !== undefined && !parseKubeVersion(kubeVersionFlag)) throw new Error(`--kube-version must look like 1.30, not ${kubeVersionFlag}`);
  // NEW first: a policy that does not load is exit 1 before anything is read from the cluster.
  let text: string;
  try {
    text = readFileSync(values.policy, 'utf8');
  } catch (e) {
    throw new Error(`${values.policy}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const next = parsePolicy(text, values.policy);

  const ref = configMapRef(values['policy-configmap']);
  const { loadKubeConfig, cluster } = await import('../k8s/cluster.js');
  const api = cluster(loadKubeConfig(kubeTarget(values, io)));
  const current = policyFromConfigMap(await api.configMapData(ref.namespace, ref.name), ref);
  const kubeVersion = parseKubeVersion(kubeVersionFlag ?? (await api.version().catch(() => undefined)));
  if (!kubeVersion) io.stderr('Warning: the Kubernetes version is unknown; nativeSidecars: auto previews classic sidecars (set --kube-version)\n');

  const all = await (values.namespace !== undefined ? api.namespace(values.namespace).then((n) => (n ? [n] : [])) : api.namespaces());
  if (values.namespace !== undefined) {
    if (!all.length) throw new Error(`namespace ${values.namespace} not found`);
    if (!enforcementOf(all[0]!.labels)) io.stderr(`Warning: namespace ${values.namespace} is not labelled sidelog.io/injection=enabled|required: the webhook injects nothing there under either policy\n`);
  }
  const namespaces = all.filter((n) => enforcementOf(n.labels));
  const subjects: Array<Subject & { object: Json }> = [];
  for (const ns of namespaces) {
    const enforcement = enforcementOf(ns.labels)!;
    for (const o of await api.workloads(ns.name)) {
      if (!isSubject(o)) continue;
      subjects.push({ object: o.kind === 'Pod' ? (uninject(o) as Json) : o, enforcement });
    }
  }
  await loadRegexEngine();
  const changes = subjects.map((s) => compareWorkload(s, { current, next, kubeVersion }));
  const changed = changes.filter((c) => c.changed);
  changed.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  const report: WhatIfReport = {
    current: `ConfigMap ${ref.namespace}/${ref.name}`,
    next: values.policy,
    kubeVersion: kubeVersion ? `${kubeVersion.major}.${kubeVersion.minor}` : null,
    workloadsChecked: changes.length,
    changed: changed.length,
    workloads: changed,
  };
  io.stdout(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : render(report));
  return changed.length ? 2 : 0;
}
