/** GET /healthz (the process answers) and GET /readyz (a certificate and a valid policy are loaded). */
import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../server-deps.js';

export function healthRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const problems = deps.readiness();
    if (problems.length) return reply.code(503).send({ status: 'not ready', problems });
    const policyError = deps.policyError?.();
    return { status: 'ready', policy: deps.policySource(), ...(policyError ? { policyError } : {}) };
  });
}
