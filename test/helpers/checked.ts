/**
 * `mutate` as every test should call it: whatever the test asserts, a pod sidelog changed must be
 * one the API server accepts (the rules in invariants.ts), whenever the pod it started from was.
 */
import { type MutateInput, type MutateResult, mutate } from '../../webhook/inject/mutate.js';
import type { Pod } from '../../webhook/core/pod.js';
import { checkPodInvariants, podViolations } from './invariants.js';

export function mutateChecked(input: MutateInput): MutateResult {
  const original = structuredClone(input.object) as Pod;
  const result = mutate(input);
  if (result.patch.length && podViolations(original).length === 0) {
    const violations = checkPodInvariants(original, result.mutated as Pod, result.patch);
    if (violations.length) throw new Error(`sidelog produced a pod the API server refuses:\n  ${violations.join('\n  ')}`);
  }
  return result;
}
