/**
 * Preview processes: a small pool of child processes (`fork` of preview-child.js), each with its
 * own V8 heap limit, so that a preview's CPU never runs on the event loop that answers `/mutate`
 * and nothing a preview does, running out of heap, overflowing its stack or looping, can take the
 * server down. (Worker threads share the process: a thread that exhausts its heap can abort the
 * whole process, nodejs/node#47224.) A preview that runs out of its heap or its time ends its
 * child, is answered PREVIEW_LIMIT, and the next preview starts a fresh child.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PreviewAnswer, PreviewTask } from './preview-worker.js';
import type { ChildReply, ChildRequest } from './preview-child.js';

export interface PreviewPoolOptions {
  /** Child processes (each runs one preview at a time). */
  readonly workers: number;
  /** Previews waiting for a child; more are refused. */
  readonly queue: number;
  /** Old-generation heap of each child, in MB. */
  readonly heapMb: number;
  /** A preview running longer is stopped (its child is killed). */
  readonly timeoutMs: number;
}

export const PREVIEW_POOL_DEFAULTS: PreviewPoolOptions = { workers: 1, queue: 3, heapMb: 64, timeoutMs: 20_000 };

/** Semi-space of a child's young generation, in MB (V8 reserves three: two semi-spaces and the new large-object space). */
export const PREVIEW_SEMI_SPACE_MB = 2;
/**
 * A child's V8 stack, in KB: enough for the YAML parser to build the deepest block document that
 * the 1 MiB preview limit can hold (~1,400 levels needs ~2,000 KB), so that the depth check
 * refuses it by name (TOO_DEEP). Well inside the 8 MiB main-thread stack Linux gives a process.
 */
export const PREVIEW_STACK_KB = 4000;
/** A child that has not started (and warmed up) in this long is killed, and its preview answered PREVIEW_LIMIT. */
export const PREVIEW_START_MS = 30_000;
/** A child with nothing to do for this long exits; the next preview starts another. */
export const PREVIEW_IDLE_MS = 60_000;

export interface PreviewPool {
  run(task: PreviewTask): Promise<PreviewAnswer>;
  close(): Promise<void>;
}

/** The compiled child entry. Under ts-jest the sources run as TypeScript; children run the build in dist/. */
function childFile(): string {
  const beside = fileURLToPath(new URL('./preview-child.js', import.meta.url));
  return existsSync(beside) ? beside : fileURLToPath(new URL('../dist/webhook/preview-child.js', import.meta.url));
}

/**
 * The child's environment: the parent's, without NODE_OPTIONS, so that the server's own heap flags
 * (the Deployment sets them there) never become the child's. Its limits are its execArgv alone.
 */
function childEnv(): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  return env;
}

interface Job {
  readonly task: PreviewTask;
  readonly resolve: (a: PreviewAnswer) => void;
  readonly reject: (e: Error) => void;
}

interface Slot {
  child: ChildProcess | undefined;
  job: Job | undefined;
  /** The running job's time limit, or the idle child's exit. */
  timer: NodeJS.Timeout | undefined;
  /** The child has started and said so; tasks are sent only then. */
  ready: boolean;
  /** Set when the pool killed the child for running past a time limit: the answer's detail. */
  timedOut: string | undefined;
}

export function createPreviewPool(opts: PreviewPoolOptions = PREVIEW_POOL_DEFAULTS): PreviewPool {
  const file = childFile();
  const execArgv = [`--max-old-space-size=${opts.heapMb}`, `--max-semi-space-size=${PREVIEW_SEMI_SPACE_MB}`, `--stack-size=${PREVIEW_STACK_KB}`];
  const slots: Slot[] = Array.from({ length: opts.workers }, () => ({ child: undefined, job: undefined, timer: undefined, ready: false, timedOut: undefined }));
  const waiting: Job[] = [];
  let closed = false;

  const clearTimer = (slot: Slot) => {
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    slot.timer = undefined;
  };

  /** The child is gone (it exited, was killed, or could not start): answer its job, free the slot. */
  function gone(slot: Slot, child: ChildProcess, error?: Error): void {
    if (slot.child !== child) return;
    slot.child = undefined;
    slot.ready = false;
    clearTimer(slot);
    const job = slot.job;
    slot.job = undefined;
    if (job !== undefined) {
      if (closed) job.resolve({ ok: false, code: 'BUSY', detail: 'the server is shutting down' });
      else if (slot.timedOut !== undefined) job.resolve({ ok: false, code: 'PREVIEW_LIMIT', detail: slot.timedOut });
      else if (error !== undefined) job.reject(error);
      else job.resolve({ ok: false, code: 'PREVIEW_LIMIT', detail: `it needed more than the ${opts.heapMb} MB heap of a preview process` });
    }
    slot.timedOut = undefined;
    next(slot);
  }

  function spawnChild(slot: Slot): ChildProcess {
    const child = fork(file, [], { execArgv, env: childEnv(), serialization: 'advanced', stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    child.on('message', (reply: ChildReply) => {
      if (slot.child !== child) return;
      if ('ready' in reply) {
        slot.ready = true;
        if (slot.job !== undefined) send(slot, child, slot.job);
        return;
      }
      if (slot.job === undefined) return;
      const job = slot.job;
      slot.job = undefined;
      clearTimer(slot);
      if ('error' in reply) job.reject(new Error(`preview failed: ${reply.error}`));
      else job.resolve(reply.answer);
      next(slot);
    });
    child.once('exit', () => gone(slot, child));
    child.once('error', (e) => {
      gone(slot, child, e);
      child.kill('SIGKILL');
    });
    return child;
  }

  /** Give the slot the next waiting job, or let its child go after a while without one. */
  function next(slot: Slot): void {
    const job = closed ? undefined : waiting.shift();
    if (job === undefined) {
      const child = slot.child;
      if (child !== undefined && slot.timer === undefined) {
        // An idle child must not keep the server's event loop alive on its own.
        child.channel?.unref();
        slot.timer = setTimeout(() => {
          // Detached first: a preview that arrives while it exits starts a new child.
          slot.child = undefined;
          slot.ready = false;
          slot.timer = undefined;
          child.kill('SIGTERM');
        }, PREVIEW_IDLE_MS).unref();
      }
      return;
    }
    clearTimer(slot);
    slot.child ??= spawnChild(slot);
    slot.child.channel?.ref();
    slot.job = job;
    if (slot.ready) send(slot, slot.child, job);
    else limitTime(slot, slot.child, PREVIEW_START_MS, `its preview process did not start within ${PREVIEW_START_MS / 1000} s`);
  }

  /** Past `ms` the child is killed; its `exit` answers the job with `detail`. */
  function limitTime(slot: Slot, child: ChildProcess, ms: number, detail: string): void {
    clearTimer(slot);
    slot.timer = setTimeout(() => {
      slot.timedOut = detail;
      child.kill('SIGKILL');
    }, ms);
  }

  /** The time limit counts from here: the preview's own run, not the child's start. */
  function send(slot: Slot, child: ChildProcess, job: Job): void {
    limitTime(slot, child, opts.timeoutMs, `it ran longer than ${opts.timeoutMs / 1000} s`);
    const request: ChildRequest = { task: job.task };
    child.send(request, (e) => {
      if (!e) return;
      gone(slot, child, e);
      child.kill('SIGKILL');
    });
  }

  return {
    run(task) {
      if (closed) return Promise.resolve({ ok: false, code: 'BUSY', detail: 'the server is shutting down' });
      return new Promise<PreviewAnswer>((resolve, reject) => {
        const free = slots.find((s) => s.job === undefined);
        if (free === undefined && waiting.length >= opts.queue) {
          resolve({ ok: false, code: 'BUSY', detail: 'every preview process is busy' });
          return;
        }
        waiting.push({ task, resolve, reject });
        if (free !== undefined) next(free);
      });
    },
    async close() {
      closed = true;
      for (const job of waiting.splice(0)) job.resolve({ ok: false, code: 'BUSY', detail: 'the server is shutting down' });
      await Promise.all(
        slots.map(async (slot) => {
          const child = slot.child;
          if (child === undefined) return;
          const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit');
          child.kill('SIGKILL');
          await exited;
        }),
      );
    },
  };
}
