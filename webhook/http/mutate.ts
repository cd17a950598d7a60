/**
 * POST /mutate (and /mutate/required for namespaces labelled `sidelog.io/injection=required`):
 * check the content type, decode, hand the review to the core, wrap the answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseReview } from '../core/admission.js';
import { createReviewCache } from '../review-cache.js';
import type { Enforcement } from '../core/mutate.js';
import { problemText } from '../core/problems.js';
import { httpError } from '../errors.js';
import type { ServerDeps } from '../server.js';

function isJson(req: FastifyRequest): boolean {
  return /^application\/json\b/i.test(req.headers['content-type'] ?? '');
}

export function mutateRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const cache = createReviewCache();
  const handle = (enforcement: Enforcement) => async (req: FastifyRequest, reply: FastifyReply) => {
    if (!isJson(req)) throw httpError('MEDIA_TYPE', 'an AdmissionReview is application/json');
    const parsed = parseReview(req.body);
    if ('problems' in parsed) throw httpError('BAD_REVIEW', parsed.problems.slice(0, 3).map(problemText).join('; '));
    const started = process.hrtime.bigint();
    const ctx = { policy: deps.policy(), enforcement, kubeVersion: deps.kubeVersion() };
    const { body, outcome, namespace, result } = cache.answer(parsed.review, ctx);
    deps.metrics.requests.inc({ route: 'mutate', outcome });
    if (result.skip) deps.metrics.skips.inc({ reason: result.skip.code });
    for (const s of result.injection?.streams ?? []) {
      deps.metrics.injections.inc({ mode: s.mode, agent: s.mode === 'agent' ? result.injection?.agent ?? '' : '', output_type: s.outputType ?? '' });
    }
    req.log.info(
      {
        uid: parsed.review.request.uid,
        namespace,
        operation: parsed.review.request.operation,
        dryRun: parsed.review.request.dryRun ?? false,
        enforcement,
        outcome,
        ...(result.skip ? { reason: result.skip.code } : {}),
        streams: result.injection?.streams.length ?? 0,
        warnings: result.warnings.length,
        coreMs: Number(process.hrtime.bigint() - started) / 1e6,
        durationMs: Number(process.hrtime.bigint() - ((req as { startedAt?: bigint }).startedAt ?? started)) / 1e6,
      },
      'admission',
    );
    return reply.type('application/json; charset=utf-8').send(body);
  };
  const schema = { headers: { type: 'object', properties: { 'content-type': { type: 'string' } } } };
  app.post('/mutate', { schema }, handle('enabled'));
  app.post('/mutate/required', { schema }, handle('required'));
}
