/**
 * Every manifest under examples/ is previewed exactly as its header tells the reader to
 * (`# Try: sidelog preview -f examples/X.yaml ...`), so an example can never rot: it must preview
 * without a warning, inject every stream it asks for into every pod it makes, leave objects
 * without pods unchanged, and give pods the API server accepts that keep the restricted Pod
 * Security Standard.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { main } from '../webhook/cli.js';
import type { Pod } from '../webhook/core/pod.js';
import { admissionPod } from '../webhook/core/workload-pod.js';
import { checkPodInvariants } from './helpers/invariants.js';
import { restrictedViolations } from './helpers/pss.js';

const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLES = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml') && f !== 'policy.yaml').sort();

/** The use cases the examples cover, one file each (docs link to them). */
const USE_CASES = ['agent-kafka.yaml', 'critical-stream.yaml', 'cronjob.yaml', 'deployment.yaml', 'fluentd.yaml', 'multiline-java.yaml', 'pod.yaml', 'statefulset-claim.yaml', 'streaming-file.yaml'];

async function sidelog(args: string[]) {
  let stdout = '';
  let stderr = '';
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    const status = await main(args, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), readStdin: () => '' });
    return { status, stdout, stderr };
  } finally {
    process.chdir(cwd);
  }
}

type Result = { kind: string; namespace: string; patch: unknown[]; mutated: Record<string, any>; pod?: Pod; warnings: string[]; injection?: { streams: unknown[] } };

function streamsAsked(o: Record<string, any>): number {
  const template = o.kind === 'Pod' ? o : o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template : o.spec.template;
  return (parseYaml(template.metadata.annotations['sidelog.io/streams']) as unknown[]).length;
}

describe('examples', () => {
  it('one example per use case', () => {
    expect(EXAMPLES).toEqual(USE_CASES);
  });

  describe.each(EXAMPLES)('examples/%s', (file) => {
    const text = readFileSync(join(ROOT, 'examples', file), 'utf8');
    const tries = text.split('\n').filter((l) => l.startsWith('# Try: '));

    it('tells the reader how to preview it, naming itself', () => {
      expect(tries).toHaveLength(1);
      expect(tries[0]).toMatch(new RegExp(`^# Try: sidelog preview -f examples/${file.replace('.', '\\.')}( |$)`));
    });

    it('previews as its header says: no warning, every stream injected, other objects unchanged', async () => {
      const args = tries[0]!.replace(/^# Try: sidelog /, '').split(/\s+/);
      const yaml = await sidelog(args);
      expect([yaml.status, yaml.stderr]).toEqual([0, '']);
      const input = parseAllDocuments(text).map((d) => d.toJS());
      const output = parseAllDocuments(yaml.stdout).map((d) => d.toJS());
      expect(output.map((o) => o.kind)).toEqual(input.map((o) => o.kind));

      const json = await sidelog([...args.filter((a, i) => a !== '-o' && args[i - 1] !== '-o')]);
      expect(json.status).toBe(0);
      const parsed = JSON.parse(json.stdout) as Result | Result[];
      const results = Array.isArray(parsed) ? parsed : [parsed];
      expect(results.map((r) => r.mutated)).toEqual(output);
      for (const [i, r] of results.entries()) {
        if (!r.pod) {
          expect(r.mutated).toEqual(input[i]);
          continue;
        }
        expect(r.warnings).toEqual([]);
        expect(r.injection?.streams).toHaveLength(streamsAsked(input[i]));
        // The manifest's patch gives the manifest printed with -o yaml.
        expect(fastJsonPatch.applyPatch(structuredClone(input[i]), r.patch as never, true, false).newDocument).toEqual(output[i]);
      }
    });

    it('gives pods the API server accepts, keeping the restricted Pod Security Standard', async () => {
      const args = tries[0]!.replace(/^# Try: sidelog /, '').split(/\s+/).filter((a, i, all) => a !== '-o' && all[i - 1] !== '-o');
      const parsed = JSON.parse((await sidelog(args)).stdout) as Result | Result[];
      const input = parseAllDocuments(text).map((d) => d.toJS());
      for (const [i, r] of (Array.isArray(parsed) ? parsed : [parsed]).entries()) {
        if (!r.pod) continue;
        // The pod the controller creates, before the webhook, and after it.
        const admitted = admissionPod(input[i], r.kind, r.namespace);
        if ('problems' in admitted) throw new Error(JSON.stringify(admitted.problems));
        const before = admitted.value.pod;
        expect(restrictedViolations(before)).toEqual([]);
        expect(restrictedViolations(r.pod)).toEqual([]);
        expect(checkPodInvariants(before, r.pod, fastJsonPatch.compare(before, r.pod))).toEqual([]);
      }
    });
  });
});
