/**
 * The preview, run in a child process (preview-child.ts, pooled by preview-pool.ts) so that
 * nothing a preview costs, CPU or heap, is spent on the event loop that answers `/mutate`. A task carries
 * the raw body and everything the answer depends on; the answer is the response, serialized
 * here, or an error code from the table.
 */
import { stringify as toYaml } from 'yaml';
import { type KubeVersion, parseKubeVersion } from './core/kube-version.js';
import { type Policy, BUILTIN_POLICY, parsePolicy } from './core/policy.js';
import { InputError } from './core/problems.js';
import { type ManifestDocument, diagnostics, jsonAnswer, parseManifestDocuments, previewManifest } from './inject/preview.js';
import type { ErrorCode } from './errors.js';
import { MAX_DEPTH, nestingDepth, scanBody } from './review-bytes.js';

/** More documents than any one workload's manifests; each costs a mutate and its output. */
export const MAX_PREVIEW_DOCUMENTS = 100;

export interface PreviewTask {
  readonly body: Uint8Array;
  readonly yaml: boolean;
  readonly output: 'json' | 'yaml';
  readonly kubeVersion?: string | undefined;
  /** The server's cluster version, when the query names none. */
  readonly serverKubeVersion?: KubeVersion | undefined;
  readonly namespace?: string | undefined;
  readonly required: boolean;
  /** The policy in force as text; undefined for the built-in policy. */
  readonly policyText?: string | undefined;
  readonly policySource: string;
}

export type PreviewAnswer =
  | { readonly ok: true; readonly contentType: string; readonly body: string; readonly documents: number }
  | { readonly ok: false; readonly code: ErrorCode; readonly detail?: string };

let cached: { text: string | undefined; policy: Policy } | undefined;

function policyOf(task: PreviewTask): Policy {
  if (cached === undefined || cached.text !== task.policyText) {
    cached = { text: task.policyText, policy: task.policyText === undefined ? BUILTIN_POLICY : parsePolicy(task.policyText, task.policySource) };
  }
  return cached.policy;
}

const fail = (code: ErrorCode, detail?: string): PreviewAnswer => ({ ok: false, code, ...(detail !== undefined ? { detail } : {}) });

export function runPreview(task: PreviewTask): PreviewAnswer {
  if (task.body.length === 0) return fail('EMPTY_BODY');
  // Brackets count for YAML flow collections too (block nesting is measured after parsing).
  if (scanBody(task.body).depth > MAX_DEPTH) return fail('TOO_DEEP', `more than ${MAX_DEPTH} levels`);
  let docs: ManifestDocument[];
  try {
    docs = parseManifestDocuments(Buffer.from(task.body.buffer, task.body.byteOffset, task.body.byteLength).toString('utf8'), 'body');
  } catch (e) {
    if (e instanceof InputError) return fail('BAD_YAML', e.message);
    if (e instanceof RangeError) return fail('TOO_DEEP', `more than ${MAX_DEPTH} levels`);
    throw e;
  }
  const objects = docs.flatMap((d) => ('items' in d ? d.items : [d.object]));
  if (objects.length > MAX_PREVIEW_DOCUMENTS) return fail('PREVIEW_LIMIT', `${objects.length} documents; at most ${MAX_PREVIEW_DOCUMENTS}`);
  if (objects.some((d) => nestingDepth(d) > MAX_DEPTH)) return fail('TOO_DEEP', `more than ${MAX_DEPTH} levels`);
  const opts = {
    policy: policyOf(task),
    kubeVersion: task.kubeVersion !== undefined ? parseKubeVersion(task.kubeVersion) : task.serverKubeVersion,
    enforcement: task.required ? ('required' as const) : ('enabled' as const),
    ...(task.namespace ? { namespace: task.namespace } : {}),
  };
  let preview;
  try {
    preview = previewManifest(docs, opts, 'body');
  } catch (e) {
    if (e instanceof InputError) return fail('BAD_MANIFEST', e.message);
    throw e;
  }
  const { results, documents } = preview;
  if (task.output === 'yaml') {
    const comments = results.flatMap((r) => diagnostics(r, results.length > 1).map((d) => `# ${d}`));
    const body = documents.map((d) => toYaml(d, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
    return { ok: true, contentType: 'application/yaml; charset=utf-8', body: `${comments.map((c) => `${c}\n`).join('')}${body}`, documents: objects.length };
  }
  return { ok: true, contentType: 'application/json; charset=utf-8', body: JSON.stringify(jsonAnswer(docs, results)), documents: objects.length };
}
