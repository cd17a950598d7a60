/**
 * The policy in force. Starts from a file (or the built-in policy) and is replaced only by a
 * policy that validates: an invalid new version is logged with the field it fails on, counted,
 * and the last good policy stays in force.
 */
import { readFileSync } from 'node:fs';
import { type Policy, BUILTIN_POLICY, parsePolicy } from './core/policy.js';

export interface PolicyLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PolicyStore {
  current(): Policy;
  /** Where the policy in force came from. */
  source(): string;
  /** The text of the policy in force; undefined for the built-in policy. */
  text(): string | undefined;
  /** The error of the last failed load, if the last load failed. */
  lastError(): string | undefined;
  /** Re-read the file; returns whether the new policy was taken. */
  reload(): boolean;
  /** Take a policy given as text (e.g. from a ConfigMap informer). */
  offer(text: string, source: string): boolean;
}

function readPolicyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${file}: cannot read (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message})`);
  }
}

export function createPolicyStore(file: string | undefined, log: PolicyLog, onResult: (ok: boolean) => void = () => undefined): PolicyStore {
  // The first load throws: a server must not start on a policy it cannot read.
  let text: string | undefined = file === undefined ? undefined : readPolicyFile(file);
  let policy: Policy = text === undefined ? BUILTIN_POLICY : parsePolicy(text, file!);
  let from = file ?? 'built-in policy';
  let error: string | undefined;
  onResult(true);

  function offer(offered: string, source: string): boolean {
    try {
      policy = parsePolicy(offered, source);
      text = offered;
      from = source;
      error = undefined;
      onResult(true);
      log.info({ policy: source, outputs: Object.keys(policy.outputs).length }, 'policy loaded');
      return true;
    } catch (e) {
      error = (e as Error).message;
      onResult(false);
      log.error({ policy: source, error }, 'policy refused; the last good policy stays in force');
      return false;
    }
  }

  return {
    current: () => policy,
    source: () => from,
    text: () => text,
    lastError: () => error,
    offer,
    reload() {
      if (file === undefined) return true;
      let read: string;
      try {
        read = readPolicyFile(file);
      } catch (e) {
        error = (e as Error).message;
        onResult(false);
        log.error({ policy: file, error }, 'policy refused; the last good policy stays in force');
        return false;
      }
      return offer(read, file);
    },
  };
}
