/**
 * A problem the user can fix, always tied to the field that caused it
 * (`sidelog.io/streams[1].path: must be absolute`).
 */
import type { z } from 'zod';

export interface Problem {
  /** Where the problem is, e.g. `sidelog.io/streams[1].path` or `outputs.kafka-logs.brokers`. */
  readonly field: string;
  readonly message: string;
}

export function problemText(p: Problem): string {
  return p.field ? `${p.field}: ${p.message}` : p.message;
}

/** `['outputs', 'kafka-logs', 0]` under `policy` -> `policy.outputs.kafka-logs[0]`. */
export function fieldPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z0-9_*-][A-Za-z0-9_.*/-]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

/** zod issues -> problems rooted at `root`; unknown keys are named one by one. */
export function zodProblems(root: string, error: z.ZodError): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ field: fieldPath(root, [...issue.path, key]), message: 'unknown field' });
      }
      continue;
    }
    problems.push({ field: fieldPath(root, issue.path), message: issue.message });
  }
  return problems;
}

/** Thrown where a whole input is unusable (bad policy file, bad manifest). Carries every problem found. */
export class InputError extends Error {
  readonly problems: readonly Problem[];
  /** The file or input the problems are in. */
  readonly source: string;
  constructor(source: string, problems: readonly Problem[]) {
    const first = problems[0];
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    super(`${source}: ${first ? problemText(first) : 'invalid'}${more}`);
    this.name = 'InputError';
    this.source = source;
    this.problems = problems;
  }
}
