/**
 * Watch mounted files for changes the way Kubernetes updates them (ConfigMap and Secret volumes
 * swap a `..data` symlink; files are never edited in place): poll the content's identity at an
 * interval. Polling is simple, works on every filesystem and costs one stat per file per tick.
 * The timer is unref'd and cleared on close.
 */
import { statSync } from 'node:fs';

export interface Watcher {
  close(): void;
}

function identity(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

/** Calls `onChange` (never concurrently) whenever any of `files` changes identity. */
export function watchFiles(files: readonly string[], intervalMs: number, onChange: () => Promise<void> | void): Watcher {
  let last = identity(files);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    const now = identity(files);
    if (now === last) return;
    last = now;
    busy = true;
    Promise.resolve()
      .then(onChange)
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
