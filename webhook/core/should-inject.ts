/**
 * Small named filters that decide whether a request is sidelog's business at all. Each returns
 * the reason to skip, or undefined to go on. They run before any parsing.
 */
import { INJECT, STATUS, STREAMS, optsOut } from './annotations.js';

export interface RequestFacts {
  readonly operation: string;
  readonly kind: string;
  readonly subResource?: string | undefined;
  readonly annotations: Readonly<Record<string, string>>;
}

type Filter = (r: RequestFacts) => string | undefined;

const onlyCreate: Filter = (r) => (r.operation === 'CREATE' ? undefined : `operation ${r.operation} is not mutated (pods are injected at CREATE only)`);
const onlyPods: Filter = (r) => (r.kind === 'Pod' ? undefined : `kind ${r.kind} is not mutated (only Pod)`);
const noSubResource: Filter = (r) => (r.subResource ? `subresource ${r.subResource} is not mutated` : undefined);
const optedOut: Filter = (r) => {
  const v = r.annotations[INJECT];
  return optsOut(v) ? `opted out (${INJECT}: "${String(v).trim()}")` : undefined;
};
const alreadyInjected: Filter = (r) => (r.annotations[STATUS] !== undefined ? `already injected (${STATUS} is set)` : undefined);
const nothingRequested: Filter = (r) => (r.annotations[STREAMS] === undefined ? `no ${STREAMS} annotation` : undefined);

/** In order: the first reason wins. */
export const FILTERS: ReadonlyArray<readonly [string, Filter]> = [
  ['operation', onlyCreate],
  ['kind', onlyPods],
  ['subresource', noSubResource],
  ['opted-out', optedOut],
  ['already-injected', alreadyInjected],
  ['not-requested', nothingRequested],
];

/** `{code, reason}` for the first filter that says skip, or undefined. `code` is a stable metric label. */
export function skipReason(r: RequestFacts): { code: string; reason: string } | undefined {
  for (const [code, filter] of FILTERS) {
    const reason = filter(r);
    if (reason !== undefined) return { code, reason };
  }
  return undefined;
}
