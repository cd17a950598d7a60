/**
 * Golden cases: every folder under test/golden/cases holds `input.yaml` (a Pod or a workload),
 * optionally `case.yaml` ({kubeVersion, enforcement, namespace, policy}), and the expected outputs
 * next to them: `outcome.txt`, `patch.json`, `mutated.yaml` and the generated agent configs.
 * Refresh them with `npm run test:update-goldens` and review the diff.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTwoFilesPatch } from 'diff';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { parseKubeVersion } from '../../webhook/core/kube-version.js';
import type { Enforcement } from '../../webhook/inject/mutate.js';
import { type Policy, parsePolicy } from '../../webhook/core/policy.js';
import { type PreviewResult, previewObject } from '../../webhook/inject/preview.js';
import { admissionPod } from '../../webhook/core/workload-pod.js';

export const GOLDEN_DIR = dirname(fileURLToPath(import.meta.url));
export const CASES_DIR = join(GOLDEN_DIR, 'cases');
export const UPDATE = process.env.UPDATE_GOLDENS === '1';
const INPUTS = new Set(['input.yaml', 'case.yaml']);

export interface GoldenCase {
  readonly name: string;
  readonly dir: string;
  readonly input: Record<string, unknown>;
  readonly policy: Policy;
  readonly policyText: string;
  readonly kubeVersion: string;
  readonly enforcement: Enforcement;
  readonly namespace: string;
}

const policyCache = new Map<string, { policy: Policy; text: string }>();
function loadPolicyFile(file: string) {
  let hit = policyCache.get(file);
  if (!hit) {
    const text = readFileSync(file, 'utf8');
    hit = { policy: parsePolicy(text, file), text };
    policyCache.set(file, hit);
  }
  return hit;
}

export function loadCases(): GoldenCase[] {
  return readdirSync(CASES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const dir = join(CASES_DIR, name);
      const input = parseYaml(readFileSync(join(dir, 'input.yaml'), 'utf8')) as Record<string, unknown>;
      const opts = existsSync(join(dir, 'case.yaml')) ? (parseYaml(readFileSync(join(dir, 'case.yaml'), 'utf8')) as Record<string, string>) : {};
      const { policy, text } = loadPolicyFile(join(GOLDEN_DIR, opts.policy ?? 'policy.yaml'));
      const metadata = (input.metadata ?? {}) as { namespace?: string };
      return {
        name,
        dir,
        input,
        policy,
        policyText: text,
        kubeVersion: opts.kubeVersion ?? '1.30',
        enforcement: (opts.enforcement ?? 'enabled') as Enforcement,
        namespace: metadata.namespace ?? opts.namespace ?? 'default',
      };
    });
}

export function runPreview(c: GoldenCase, input: unknown = c.input): PreviewResult {
  return previewObject(input, { policy: c.policy, kubeVersion: parseKubeVersion(c.kubeVersion), enforcement: c.enforcement, namespace: c.namespace });
}

/** The files a result produces, by name. Byte-stable: no clocks, no random names. */
export function renderOutputs(r: PreviewResult): Map<string, string> {
  const files = new Map<string, string>();
  const lines = [`allowed: ${r.allowed}`];
  if (r.denial) lines.push(`denied: ${r.denial}`);
  if (r.skipReason) lines.push(`skipped: ${r.skipReason}`);
  if (r.injection) lines.push(`injected: ${JSON.stringify(r.injection)}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  files.set('outcome.txt', `${lines.join('\n')}\n`);
  if (r.patch.length) {
    files.set('patch.json', `${JSON.stringify(r.patch, null, 2)}\n`);
    files.set('mutated.yaml', toYaml(r.mutated, { lineWidth: 0, aliasDuplicateObjects: false }));
  }
  for (const c of r.configs) files.set(c.file, c.text);
  return files;
}

/**
 * Compare produced files with the goldens in the case folder; with UPDATE_GOLDENS=1 rewrite them.
 * Returns one message per mismatch (a unified diff), a missing golden, or a golden nobody produced.
 */
export function compareGoldens(c: GoldenCase, produced: Map<string, string>): string[] {
  const problems: string[] = [];
  const existing = readdirSync(c.dir).filter((f) => !INPUTS.has(f));
  for (const file of existing) {
    if (!produced.has(file)) {
      if (UPDATE) rmSync(join(c.dir, file));
      else problems.push(`${c.name}/${file}: golden file is not produced by this case any more (remove it or refresh with npm run test:update-goldens)`);
    }
  }
  for (const [file, text] of produced) {
    const path = join(c.dir, file);
    const expected = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (expected === text) continue;
    if (UPDATE) {
      writeFileSync(path, text);
      continue;
    }
    if (expected === undefined) problems.push(`${c.name}/${file}: no golden file (run npm run test:update-goldens and review it)`);
    else problems.push(createTwoFilesPatch(`${c.name}/${file} (golden)`, `${c.name}/${file} (actual)`, expected, text));
  }
  return problems;
}

/** The pod inside a manifest: the object itself for a Pod, else its pod template as a Pod. */
export function podOf(manifest: unknown): import('../../webhook/core/pod.js').Pod {
  const m = manifest as Record<string, any>;
  const template = m.kind === 'CronJob' ? m.spec?.jobTemplate?.spec?.template : m.kind === 'Pod' ? m : m.spec?.template;
  return { apiVersion: 'v1', kind: 'Pod', metadata: template?.metadata ?? {}, spec: template?.spec };
}

/** The pod the controller would create from the case's manifest, as the webhook receives it. */
export function admittedPodOf(c: GoldenCase): import('../../webhook/core/pod.js').Pod {
  const admitted = admissionPod(c.input, String(c.input.kind), c.namespace);
  if ('problems' in admitted) throw new Error(`${c.name}: ${JSON.stringify(admitted.problems)}`);
  return admitted.value.pod;
}
