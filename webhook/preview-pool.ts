/**
 * Preview workers: a piscina pool of worker threads, each with its own V8 heap limit, so that a
 * preview's CPU never runs on the event loop that answers `/mutate` and its memory cannot grow
 * the server's heap. A preview that runs out of its heap or its time ends its worker (piscina
 * starts another) and is answered PREVIEW_LIMIT; the server carries on.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { PreviewAnswer, PreviewTask } from './preview-worker.js';

export interface PreviewPoolOptions {
  /** Worker threads (each runs one preview at a time). */
  readonly workers: number;
  /** Previews waiting for a worker; more are refused. */
  readonly queue: number;
  /** Old-generation heap of each worker, in MB. */
  readonly heapMb: number;
  /** A preview running longer is stopped (its worker ends). */
  readonly timeoutMs: number;
}

export const PREVIEW_POOL_DEFAULTS: PreviewPoolOptions = { workers: 1, queue: 3, heapMb: 64, timeoutMs: 20_000 };

export interface PreviewPool {
  run(task: PreviewTask): Promise<PreviewAnswer>;
  close(): Promise<void>;
}

/** The compiled worker module. Under ts-jest the sources run as TypeScript; workers run the build in dist/. */
function workerFile(): string {
  const beside = fileURLToPath(new URL('./preview-worker.js', import.meta.url));
  return existsSync(beside) ? beside : fileURLToPath(new URL('../dist/webhook/preview-worker.js', import.meta.url));
}

export function createPreviewPool(opts: PreviewPoolOptions = PREVIEW_POOL_DEFAULTS): PreviewPool {
  const pool = new Piscina<PreviewTask, PreviewAnswer>({
    filename: workerFile(),
    // Workers start with the first preview and end after a minute without one: a server that
    // nobody asks for previews carries no worker.
    minThreads: 0,
    maxThreads: opts.workers,
    maxQueue: opts.queue,
    idleTimeout: 60_000,
    // The young generation bounds what a worker allocates between scavenges; 8 MB is plenty. An
    // 8 MB stack lets the YAML parser build the deepest document 1 MiB can hold (~1,400 levels)
    // so that the depth check refuses it by name (TOO_DEEP) instead of a stack overflow.
    resourceLimits: { maxOldGenerationSizeMb: opts.heapMb, maxYoungGenerationSizeMb: 8, stackSizeMb: 8 },
    // Workers must not inherit the main thread's heap flags (NODE_OPTIONS) as their own.
    execArgv: [],
  });
  return {
    async run(task) {
      try {
        // The body is copied to the worker (at most the 1 MiB preview limit), never transferred: a
        // small Buffer may share its memory with others.
        return await pool.run(task, { signal: AbortSignal.timeout(opts.timeoutMs) });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.message === 'Task queue is at limit') return { ok: false, code: 'BUSY', detail: 'every preview worker is busy' };
        if (err.name === 'AbortError') return { ok: false, code: 'PREVIEW_LIMIT', detail: `it ran longer than ${opts.timeoutMs / 1000} s` };
        if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') return { ok: false, code: 'PREVIEW_LIMIT', detail: `it needed more than the ${opts.heapMb} MB heap of a preview worker` };
        throw e;
      }
    },
    close: () => pool.destroy(),
  };
}
