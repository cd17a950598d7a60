/** GET /metrics: Prometheus text format. */
import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../server-deps.js';

export function metricsRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.get('/metrics', async (_req, reply) => {
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });
}
