/**
 * Every golden case: byte-compared outputs, the API server's rules on the result, the restricted
 * Pod Security Standard kept, a second pass that changes nothing, and the same answer from the
 * direct mutate() path as from preview.
 */
import fastJsonPatch from 'fast-json-patch';
import { mutate } from '../../webhook/inject/mutate.js';
import { parseKubeVersion } from '../../webhook/core/kube-version.js';
import { patchText } from '../../webhook/core/patch.js';
import { checkAgentConfig } from '../helpers/agent-config.js';
import { checkPodInvariants } from '../helpers/invariants.js';
import { patchOracleProblems } from '../helpers/patch-oracle.js';
import { restrictedViolations } from '../helpers/pss.js';
import type { Pod } from '../../webhook/core/pod.js';
import { admittedPodOf, compareGoldens, loadCases, podOf, renderOutputs, runPreview } from './harness.js';

const cases = loadCases();

describe('golden cases', () => {
  it('finds the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  describe.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = runPreview(c);

    it('matches its golden files', () => {
      expect(compareGoldens(c, renderOutputs(result))).toEqual([]);
    });

    const admitted = admittedPodOf(c);

    it('yields a pod the API server accepts', () => {
      if (!result.patch.length) return expect(result.mutated).toEqual(c.input);
      // The pod the controller creates (a StatefulSet's claims are volumes only there), as the webhook leaves it.
      expect(checkPodInvariants(admitted, result.pod as Pod, fastJsonPatch.compare(admitted, result.pod as Pod))).toEqual([]);
      expect(fastJsonPatch.applyPatch(structuredClone(c.input), result.patch, true, false).newDocument).toEqual(result.mutated);
    });

    it('keeps the restricted Pod Security Standard when the input met it', () => {
      const before = restrictedViolations(podOf(c.input));
      const after = restrictedViolations(podOf(result.mutated));
      if (before.length === 0) expect(after).toEqual([]);
      expect(after.filter((v) => v.includes('sidelog-'))).toEqual([]);
    });

    it('writes the patch the deep-copy-and-diff oracle agrees with', () => {
      // The pod the webhook receives (a StatefulSet's claims are volumes only there).
      const pod = structuredClone(admitted);
      const original = structuredClone(pod);
      const direct = mutate({ object: pod, namespace: c.namespace, policy: c.policy, kubeVersion: parseKubeVersion(c.kubeVersion), enforcement: c.enforcement });
      expect(patchOracleProblems(original, pod, direct)).toEqual([]);
      if (result.patch.length) expect(direct.additions).toBeDefined();
      // The answer's patch text, twice (the second from the remembered string JSON), is JSON.stringify's.
      for (let i = 0; i < 2; i++) expect(patchText(direct.patch)).toBe(JSON.stringify(direct.patch));
    });

    it('changes nothing on a second pass', () => {
      const again = runPreview(c, result.mutated);
      expect(again.patch).toEqual([]);
    });

    it('renders agent configs that parse back with only known keys', () => {
      for (const config of result.configs) expect(checkAgentConfig(config.file, config.text)).toEqual([]);
    });

    it('gives the same answer through mutate() on the pod the controller creates as through preview', () => {
      const direct = mutate({ object: admitted, namespace: c.namespace, policy: c.policy, kubeVersion: parseKubeVersion(c.kubeVersion), enforcement: c.enforcement });
      expect(direct.mutated).toEqual(result.pod);
      expect(direct.warnings).toEqual(result.warnings);
      expect(direct.allowed).toBe(result.allowed);
    });
  });
});
