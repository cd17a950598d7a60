/**
 * Streaming sidecar: one small container per stream that follows one log file to its own stdout,
 * so `kubectl logs pod -c sidelog-<name>` shows it and the node agent picks it up as its own stream.
 *
 * The script is a constant. The file path reaches it as an env var, never as script text, and the
 * path charset (see annotations.ts) has no white space, so the one unquoted expansion below only
 * globs and never splits or injects.
 */
import { streamingSidecarName } from '../../webhook/core/names.js';
import type { Container } from '../../webhook/core/pod.js';
import type { StreamingStream } from '../types.js';

export const STREAMING_PATH_ENV = 'SIDELOG_PATH';

/**
 * Wait for the file (or the first glob match) to exist, then follow by name from its first line,
 * across rotation (`tail -F` reopens a file that is moved away and recreated). The shell stays
 * PID 1 and exits on SIGTERM, so the sidecar never holds up pod shutdown for the grace period.
 */
export const STREAMING_SCRIPT = [
  'set -u',
  "trap 'exit 0' TERM INT",
  'while :; do',
  `  set -- $${STREAMING_PATH_ENV}`,
  '  [ -e "$1" ] && break',
  '  sleep 1',
  'done',
  'tail -n +1 -q -F "$@" &',
  "trap 'kill $! 2>/dev/null; exit 0' TERM INT",
  'wait $!',
].join('\n');

export function streamingContainerName(stream: Pick<StreamingStream, 'name'>): string {
  return streamingSidecarName(stream.name);
}

/** The container for one streaming stream, without the shell the core adds (mounts, security, resources). */
export function renderStreaming(stream: StreamingStream, image: string): Pick<Container, 'name' | 'image' | 'command' | 'env'> {
  return {
    name: streamingContainerName(stream),
    image,
    command: ['sh', '-c', STREAMING_SCRIPT],
    env: [{ name: STREAMING_PATH_ENV, value: stream.sidecarPath }],
  };
}
