/**
 * Kubernetes resource quantities (`100m`, `64Mi`, `1.5Gi`, `2e3`), parsed the way the API server
 * reads them, so that sidelog never emits a quantity the API server would refuse and can compare
 * a pod's request with the policy maximum.
 */

const QUANTITY = /^([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;

const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};

export function isQuantity(s: string): boolean {
  return QUANTITY.test(s);
}

/** The numeric value of a quantity (bytes, cores), or undefined when it is not a quantity. */
export function parseQuantity(s: string): number | undefined {
  const m = QUANTITY.exec(s);
  if (!m) return undefined;
  const [, num = '', suffix = ''] = m;
  const multiplier = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : SUFFIX[suffix];
  if (multiplier === undefined) return undefined;
  return Number(num) * multiplier;
}
