/**
 * POST /mutate (and /mutate/required for namespaces labelled `sidelog.io/injection=required`):
 * take the raw body, answer from the review memo or decode and hand the review to the core,
 * send the serialized answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseReview } from '../inject/admission.js';
import type { Enforcement, Injection } from '../inject/mutate.js';
import { problemText } from '../core/problems.js';
import { isRawBody, parseJson, scanJson } from '../body.js';
import { httpError } from '../errors.js';
import { withRegexEngine } from '../core/regex.js';
import { injectionKey } from '../metrics.js';
import { AnswerParts, type ReviewCache } from '../review-cache.js';
import type { ServerDeps } from '../server-deps.js';

/**
 * Milliseconds to the microsecond: a number with few digits is cheaper for the log line to write
 * (measured: ~1 µs less per review than the full double).
 */
const toMicros = (ms: number): number => Math.round(ms * 1e3) / 1e3;

/** Each injection's tally keys, made once per injection: a remembered answer's is one object, counted on every hit. */
const keysOfInjection = new WeakMap<Injection, readonly string[]>();

function injectionKeys(injection: Injection): readonly string[] {
  let keys = keysOfInjection.get(injection);
  if (keys === undefined) {
    keys = injection.streams.map((s) => injectionKey(s.mode, s.mode === 'agent' ? injection.agent ?? '' : '', s.outputType ?? ''));
    keysOfInjection.set(injection, keys);
  }
  return keys;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * A remembered answer, written in its parts: the memo's bytes go to the socket as they are, with
 * no copy per review (fastify's send takes one payload). The headers are the ones fastify would
 * send; its onResponse hooks run as for any reply. Node.js writes the parts in one go: the
 * response corks the socket until `end`.
 */
export function sendParts(reply: FastifyReply, parts: AnswerParts): FastifyReply {
  reply.hijack();
  const res = reply.raw;
  try {
    res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': parts.byteLength });
    res.write(parts.head);
    res.end(parts.tail);
  } catch (err) {
    // Hijacked, the reply is fastify's no more: an error here would leave the request unanswered
    // and its connection busy. The API server sees the connection fail (its failurePolicy applies).
    reply.log.error({ err }, 'sending a remembered answer failed');
    res.destroy(err as Error);
  }
  return reply;
}

export function mutateRoutes(app: FastifyInstance, deps: ServerDeps, cache: ReviewCache): void {
  const handle = (enforcement: Enforcement) => async (req: FastifyRequest, reply: FastifyReply) => {
    if (!isRawBody(req.body)) throw httpError('EMPTY_BODY');
    const raw = req.body.bytes;
    const scan = scanJson(raw, cache.remembers(raw));
    const started = performance.now();
    const ctx = { policy: deps.policy(), enforcement, kubeVersion: deps.kubeVersion() };
    const decode = () => {
      const parsed = parseReview(parseJson(raw));
      if ('problems' in parsed) throw httpError('BAD_REVIEW', parsed.problems.slice(0, 3).map(problemText).join('; '));
      return parsed.review;
    };
    // The first pod that asks for a regex loads the regex engine; every other review stays synchronous.
    let answer = withRegexEngine(
      () => cache.answer(raw, scan, ctx, decode),
      () => req.log.info('regex engine loaded: the first pod asking for a regex parser'),
    );
    if (answer instanceof Promise) answer = await answer;
    const { result, outcome } = answer;
    const { tallies } = deps.metrics;
    tallies.requests.add(outcome);
    tallies.answers.add(answer.remembered || 'worked-out');
    if (result.skip) tallies.skips.add(result.skip.code);
    if (result.injection) for (const key of injectionKeys(result.injection)) tallies.injections.add(key);
    const coreMs = toMicros(performance.now() - started);
    req.log.info(
      {
        uid: answer.uid,
        namespace: answer.namespace,
        operation: answer.operation,
        dryRun: answer.dryRun,
        enforcement,
        outcome,
        // Undefined is left out of the line. No spread here: properties after a spread in an object
        // literal are each defined by a runtime call (callgrind: ~7k instructions a review).
        reason: result.skip?.code,
        streams: result.injection?.streams.length ?? 0,
        warnings: result.warnings.length,
        remembered: answer.remembered,
        coreMs,
        durationMs: toMicros(reply.elapsedTime),
      },
      'admission',
    );
    if (answer.body instanceof AnswerParts) return sendParts(reply, answer.body);
    return reply.type(JSON_TYPE).send(answer.body);
  };
  app.post('/mutate', handle('enabled'));
  app.post('/mutate/required', handle('required'));
}
