/**
 * The entry of a preview child process (see preview-pool.ts): it runs one preview per message
 * from the server and sends the answer back. It exits when the server goes away, whether the
 * server closed it or died: the IPC channel's `disconnect` is the signal, so no child outlives
 * its server.
 */
import { loadRegexEngine } from './core/regex.js';
import { type PreviewAnswer, type PreviewTask, runPreview } from './preview-worker.js';

export interface ChildRequest {
  readonly task: PreviewTask;
}

/**
 * `ready` once, when the child has started and warmed up; then one reply per request: the answer,
 * or the message of an error the preview did not expect (a bug: the server answers 500).
 */
export type ChildReply = { readonly ready: true } | { readonly answer: PreviewAnswer } | { readonly error: string };

/** A first, tiny preview loads and compiles everything a preview uses before the time limit of a real one starts. */
const WARM_UP: PreviewTask = {
  body: Buffer.from('{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"sidelog.io/streams":"- path: /var/log/a/a.log"}},"spec":{"containers":[{"name":"a","image":"a"}]}}'),
  yaml: false,
  output: 'json',
  required: false,
  policySource: 'built-in',
};

function answer(request: ChildRequest): ChildReply {
  try {
    return { answer: runPreview(request.task) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

if (process.send !== undefined) {
  process.on('disconnect', () => process.exit(0));
  const reply = (r: ChildReply) =>
    process.send!(r, (e: Error | null) => {
      if (e) process.exit(1);
    });
  process.on('message', (request: ChildRequest) => reply(answer(request)));
  // Loaded before `ready`, not on the first pod that asks for a regex: a preview's time limit
  // should not pay for it. A preview process is started only when previews are asked for.
  await loadRegexEngine();
  runPreview(WARM_UP);
  reply({ ready: true });
}
