/**
 * POST /preview: a Pod or workload (JSON or YAML, one or many documents) in; the patch, the
 * mutated object, the warnings and the generated configs out. `?output=yaml` returns the mutated
 * manifest, with the warnings as leading comments. The work runs in a preview process: this
 * route only checks the query, hands the raw body over and sends what comes back.
 */
import type { FastifyInstance } from 'fastify';
import { isRawBody } from '../body.js';
import { httpError } from '../errors.js';
import type { PreviewPool } from '../preview-pool.js';
import type { ServerDeps } from '../server-deps.js';

export const PREVIEW_BODY_LIMIT = 1024 * 1024;

interface Query {
  output?: 'json' | 'yaml';
  kubeVersion?: string;
  namespace?: string;
  required?: boolean;
}

export function previewRoutes(app: FastifyInstance, deps: ServerDeps, pool: PreviewPool, bodyLimit: number): void {
  app.post<{ Querystring: Query }>(
    '/preview',
    {
      bodyLimit,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            output: { type: 'string', enum: ['json', 'yaml'] },
            kubeVersion: { type: 'string', pattern: '^v?[0-9]+\\.[0-9]+' },
            namespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
            required: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply) => {
      if (!isRawBody(req.body)) throw httpError('EMPTY_BODY');
      const answer = await pool.run({
        body: req.body.bytes,
        yaml: req.body.yaml,
        output: req.query.output ?? 'json',
        kubeVersion: req.query.kubeVersion,
        serverKubeVersion: deps.kubeVersion(),
        namespace: req.query.namespace,
        required: req.query.required ?? false,
        policyText: deps.policyText(),
        policySource: deps.policySource(),
      });
      if (!answer.ok) {
        if (answer.code === 'BUSY') reply.header('retry-after', '1');
        throw httpError(answer.code, answer.detail);
      }
      deps.metrics.requests.inc({ route: 'preview', outcome: 'previewed' });
      return reply.type(answer.contentType).send(answer.body);
    },
  );
}
