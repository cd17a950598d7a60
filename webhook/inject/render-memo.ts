/**
 * Render each agent config once per distinct stream set. The pods of one workload ask for the same
 * streams with the same outputs, so the same config text, env and volumes come out of the renderer
 * for each of them; rendering is the largest part of an injection that no pod-specific work needs.
 *
 * What a rendering depends on is exactly its input (renderers are pure): the agent, the policy
 * defaults, and the rest of `AgentRenderInput` (the streams with their resolved outputs, the flush
 * time fitted to the pod's grace period, the namespace, and any pod fact a renderer is later given).
 *  - The defaults are keyed by object identity: one memo per policy version, dropped with it
 *    (a WeakMap), so a reloaded policy never sees a rendering of the old one.
 *  - Everything else is keyed by its JSON, so a field added to `AgentRenderInput` is part of the key
 *    without a change here. Fields must therefore be plain JSON data (no Map, no function, no
 *    `undefined` that matters), as they are today.
 *
 * The memo is bounded by bytes, not by count: keys and renderings are counted at 2 bytes a
 * character (V8's worst case) and the least recently used go first. Keys longer than V8 hashes in
 * full (16,383 characters) are replaced by their SHA-256, so long keys do not all share one hash.
 * A renderer that throws (a value it refuses) is not remembered. Renderings are frozen, deeply: the
 * caller, the patch and the mutated pod share them, and nobody may change them.
 */
import type { AgentRender, AgentRenderInput } from '../../sidecar-templates/types.js';
import { ByteLru, MAX_HASHED_STRING, digest } from '../core/memo.js';
import type { Defaults } from '../core/policy.js';

/** Default bound: a rendering is 5–30 KB with its key, so some hundreds of distinct stream sets. */
export const RENDER_MEMO_BYTES = 4 * 1024 * 1024;
/**
 * Map entry, strings' headers, the frozen objects' shapes: a flat allowance of 512 bytes per entry,
 * of which ByteLru counts 64 itself (with the key, at 2 bytes a character).
 */
const ENTRY_OVERHEAD = 512 - 64;

type Render = (input: AgentRenderInput) => AgentRender;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** The memo key: the agent and the JSON of the input without the defaults (keyed by identity instead). */
export function renderKey(agent: string, input: AgentRenderInput): string {
  const { defaults: _defaults, ...rest } = input;
  const key = `${agent}\n${JSON.stringify(rest)}`;
  return key.length > MAX_HASHED_STRING ? `sha256:${digest(key)}` : key;
}

/** Bytes a rendering holds beyond its key, counted at 2 bytes a character. */
function renderBytes(r: AgentRender): number {
  let chars = 0;
  for (const f of r.files) chars += f.text.length + f.file.length + f.annotation.length;
  chars += JSON.stringify([r.image, r.command, r.args, r.env, r.volumes, r.mounts, r.problems]).length;
  return chars * 2 + ENTRY_OVERHEAD;
}

export interface RenderMemo {
  /** The renderer's result for this input, rendered at most once per key while remembered; frozen. */
  render(agent: string, renderer: Render, input: AgentRenderInput): AgentRender;
  /** Bytes and entries held for one policy version's defaults (for tests and the docs' arithmetic). */
  stats(defaults: Defaults): { bytes: number; entries: number };
}

export function createRenderMemo(maxBytes = RENDER_MEMO_BYTES): RenderMemo {
  const byDefaults = new WeakMap<Defaults, ByteLru<AgentRender>>();
  return {
    render(agent, renderer, input) {
      let cache = byDefaults.get(input.defaults);
      // Any one rendering may use the whole bound (ByteLru's default would refuse those over an eighth).
      if (cache === undefined) byDefaults.set(input.defaults, (cache = new ByteLru<AgentRender>(maxBytes, maxBytes)));
      const key = renderKey(agent, input);
      const hit = cache.get(key);
      if (hit !== undefined) return hit;
      const value = deepFreeze(renderer(input));
      cache.set(key, value, renderBytes(value));
      return value;
    },
    stats(defaults) {
      const cache = byDefaults.get(defaults);
      return { bytes: cache?.bytes ?? 0, entries: cache?.size ?? 0 };
    },
  };
}

/** The process-wide memo `mutate` renders through. */
export const renderMemo = createRenderMemo();
