/**
 * `sidelog audit`: every pod whose annotations ask for streams but whose sidecars don't match, with
 * the reason (webhook/inject/audit.ts), the workload that owns it and the fix. Read-only.
 * Exit 0: nothing found; 1: something found; 3: the audit could not run (one line on stderr).
 */
import { parseArgs } from 'node:util';
import { type Finding, type Workload, auditPod, fixFor, owningWorkload } from '../inject/audit.js';
import { parseKubeVersion } from '../core/kube-version.js';
import { loadRegexEngine } from '../core/regex.js';
import type { Policy } from '../core/policy.js';
import { CLUSTER_FLAGS, type Out, configMapRef, kubeTarget, outputFormat, policyFromConfigMap, table } from './common.js';

export const AUDIT_FLAGS = CLUSTER_FLAGS;
export const AUDIT_USAGE = `audit [-n|--namespace NS | -A|--all-namespaces] [-o|--output table|json] [--kubeconfig FILE] [--context NAME]
      [--policy-configmap sidelog/sidelog-policy]
    Pods whose annotations ask for streams but whose sidecars don't match, with the reason, the owning
    workload and the fix. Read-only. Exit 0 nothing found; 1 something found; 3 the audit could not run.
`;

export interface AuditEntry extends Finding {
  readonly workload: Workload | null;
  readonly fix: string;
}

export interface AuditReport {
  readonly namespaces: string[] | 'all';
  readonly podsChecked: number;
  /** Why `not-injectable` could not be told from `not-injected`, when the policy could not be read. */
  readonly policyNote?: string;
  readonly findings: AuditEntry[];
}

function workloadText(w: Workload | null): string {
  return w ? `${w.kind.toLowerCase()}/${w.name}` : '(bare pod)';
}

function render(report: AuditReport): string {
  if (!report.findings.length) return `No pod is missing its sidecars (${report.podsChecked} pods checked).\n`;
  const rows = report.findings.map((f) => [f.namespace, f.pod, workloadText(f.workload), f.reason]);
  const fixes = new Map<string, string[]>();
  for (const f of report.findings) {
    const pods = fixes.get(f.fix) ?? [];
    pods.push(`${f.namespace}/${f.pod}: ${f.detail}`);
    fixes.set(f.fix, pods);
  }
  const details = [...fixes].map(([fix, pods]) => `${pods.map((p) => `- ${p}`).join('\n')}\n  fix: ${fix}`);
  return `${table(['NAMESPACE', 'POD', 'WORKLOAD', 'REASON'], rows)}\n${details.join('\n')}\n\n${report.findings.length} of ${report.podsChecked} pods checked are missing sidecars.\n`;
}

async function run(argv: string[], io: Out): Promise<number> {
  const { values } = parseArgs({ args: argv, options: AUDIT_FLAGS, strict: true });
  const format = outputFormat(values.output);
  if (values.namespace !== undefined && values['all-namespaces']) throw new Error('use -n NAMESPACE or -A, not both');
  const ref = configMapRef(values['policy-configmap']);
  const { loadKubeConfig, contextNamespace, cluster } = await import('../k8s/cluster.js');
  const kc = loadKubeConfig(kubeTarget(values, io));
  const api = cluster(kc);
  const namespace = values['all-namespaces'] ? undefined : values.namespace ?? contextNamespace(kc);

  // The policy in force tells a pod the webhook cannot inject from one it never saw. Without read
  // access to it the audit still runs, and says what it could not tell.
  let policy: Policy | undefined;
  let policyNote: string | undefined;
  try {
    policy = policyFromConfigMap(await api.configMapData(ref.namespace, ref.name), ref);
  } catch (e) {
    policyNote = `the policy in force was not read (${(e as Error).message}); not-injected may include pods the webhook cannot inject`;
  }
  let kubeVersion;
  try {
    kubeVersion = parseKubeVersion(await api.version());
  } catch {
    kubeVersion = undefined;
  }

  const [pods, namespaces] = await Promise.all([api.pods(namespace), namespace === undefined ? api.namespaces() : api.namespace(namespace).then((n) => (n ? [n] : []))]);
  if (namespace !== undefined && namespaces.length === 0) throw new Error(`namespace ${namespace} not found`);
  const labels = new Map(namespaces.map((n) => [n.name, n.labels]));
  const findings: AuditEntry[] = [];
  await loadRegexEngine();
  for (const pod of pods) {
    const finding = auditPod(pod, { namespaceLabels: labels.get(pod.metadata?.namespace ?? '') ?? {}, ...(policy ? { policy } : {}), kubeVersion });
    if (!finding) continue;
    const workload = (await owningWorkload(pod, api.owners)) ?? null;
    findings.push({ ...finding, workload, fix: fixFor(finding, workload ?? undefined) });
  }
  findings.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.pod.localeCompare(b.pod));
  const report: AuditReport = { namespaces: namespace === undefined ? 'all' : [namespace], podsChecked: pods.length, ...(policyNote ? { policyNote } : {}), findings };
  if (policyNote) io.stderr(`Warning: ${policyNote}\n`);
  io.stdout(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : render(report));
  return findings.length ? 1 : 0;
}

/** The `audit` subcommand. Errors are reported here (exit 3) so that exit 1 always means "found". */
export async function audit(argv: string[], io: Out): Promise<number> {
  try {
    return await run(argv, io);
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    io.stderr(`sidelog audit: ${message}\n`);
    return 3;
  }
}
