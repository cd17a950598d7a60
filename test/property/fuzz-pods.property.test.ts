/**
 * Issue 8's fuzz run: generated pods (container, init and ephemeral container names that clash
 * with sidelog's, volumes of every kind at the log directories, Windows and Linux pods, forged
 * statuses, annotations close to the 256 KiB limit) with generated stream annotations (names that
 * derive sidelog's own, regexes the agents refuse, outputs that need other Fluentd images or other
 * AWS Secrets) go through `mutate`. For every one: no crash, the input untouched, a known skip code
 * or a refusal naming a field, and when a patch comes back: a pod the API server accepts, configs
 * that hold exactly the intended directives, and a second pass that changes nothing.
 */
import fc from 'fast-check';
import { mutate } from '../../webhook/inject/mutate.js';
import type { Pod } from '../../webhook/core/pod.js';
import { SKIP_CODES } from '../../webhook/core/should-inject.js';
import { checkIntended, sidecarProblems } from '../helpers/injection-checks.js';
import { checkPodInvariants, podViolations } from '../helpers/invariants.js';
import { patchOracleProblems } from '../helpers/patch-oracle.js';
import { annotationsArb, podArb, policy } from '../helpers/pod-arbitraries.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

describe('generated pods and annotations through mutate', () => {
  it(`never crash and never produce an invalid pod or an escaped config (${RUNS} runs)`, () => {
    const seen = { injected: 0, denied: 0, withAgent: 0, dropped: 0, skips: new Map<string, number>() };
    let validInputs = 0;
    fc.assert(
      fc.property(podArb, annotationsArb, fc.constantFrom('enabled', 'enabled', 'required'), fc.constantFrom(28, 30), (pod, ann, enforcement, minor) => {
        pod.metadata!.annotations = {
          ...pod.metadata!.annotations,
          'sidelog.io/streams': ann.streams,
          ...(ann.agent ? { 'sidelog.io/agent': ann.agent } : {}),
          ...(ann.resources ? { 'sidelog.io/resources': ann.resources } : {}),
        };
        if (podViolations(pod).length) return; // the API server would have refused it before sidelog saw it
        validInputs++;
        const original = structuredClone(pod);
        const kubeVersion = { major: 1, minor };
        const result = mutate({ object: pod, namespace: 'team-a', policy, enforcement: enforcement as 'enabled' | 'required', kubeVersion });
        expect(pod).toEqual(original);
        expect(patchOracleProblems(original, pod, result)).toEqual([]);
        for (const w of result.warnings) expect(w).toMatch(/^sidelog: [^\n]*$/);
        if (!result.allowed) {
          seen.denied++;
          expect(result.denial).toMatch(/^sidelog: (sidelog\.io\/|spec\.)/);
          expect(result.patch).toEqual([]);
          return;
        }
        if (!result.patch.length) {
          expect(SKIP_CODES).toContain(result.skip?.code);
          seen.skips.set(result.skip!.code, (seen.skips.get(result.skip!.code) ?? 0) + 1);
          return;
        }
        seen.injected++;
        if (result.configs.length) seen.withAgent++;
        if (result.warnings.some((w) => w.includes('not injected'))) seen.dropped++;
        const mutated = result.mutated as Pod;
        expect(checkPodInvariants(original, mutated, result.patch)).toEqual([]);
        expect(checkIntended(result, 'team-a')).toEqual([]);
        expect(sidecarProblems(original, mutated)).toEqual([]);
        const again = mutate({ object: mutated, namespace: 'team-a', policy, enforcement: enforcement as 'enabled' | 'required', kubeVersion });
        expect(again.patch).toEqual([]);
        expect(again.skip?.code).toBe('already-injected');
      }),
      { numRuns: RUNS },
    );
    // The generators must reach every outcome that matters, or the run proves little.
    expect(validInputs).toBeGreaterThan(RUNS * 0.8);
    expect(seen.injected).toBeGreaterThan(RUNS * 0.15);
    expect(seen.withAgent).toBeGreaterThan(RUNS * 0.05);
    expect(seen.denied).toBeGreaterThan(RUNS * 0.05);
    expect(seen.dropped).toBeGreaterThan(RUNS * 0.05);
    for (const code of ['windows', 'annotations-too-large', 'run-to-completion', 'invalid']) expect(seen.skips.get(code) ?? 0).toBeGreaterThan(0);
  });
});
