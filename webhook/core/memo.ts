/**
 * A small least-recently-used memo for pure functions of a string. Pods of one workload carry
 * the same annotation text, so parsing it once per text instead of once per pod is free speed.
 * Callers must treat memoized results as read-only.
 */
export function memoize<T>(fn: (key: string) => T, capacity = 256): (key: string) => T {
  const cache = new Map<string, T>();
  return (key: string) => {
    const hit = cache.get(key);
    if (hit !== undefined) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const value = fn(key);
    cache.set(key, value);
    if (cache.size > capacity) cache.delete(cache.keys().next().value as string);
    return value;
  };
}
