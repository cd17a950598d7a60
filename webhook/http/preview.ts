/**
 * POST /preview: a Pod or workload (JSON or YAML, one or many documents) in; the patch, the
 * mutated object, the warnings and the generated configs out. `?output=yaml` returns the mutated
 * manifest, with the warnings as leading comments.
 */
import type { FastifyInstance } from 'fastify';
import { stringify as toYaml } from 'yaml';
import { parseKubeVersion } from '../core/kube-version.js';
import { InputError } from '../core/problems.js';
import { parseManifests, previewObject } from '../core/preview.js';
import { httpError } from '../errors.js';
import type { ServerDeps } from '../server.js';

export const PREVIEW_BODY_LIMIT = 1024 * 1024;

interface Query {
  output?: 'json' | 'yaml';
  kubeVersion?: string;
  namespace?: string;
  required?: boolean;
}

export function previewRoutes(app: FastifyInstance, deps: ServerDeps, serverBodyLimit: number): void {
  app.post<{ Querystring: Query }>(
    '/preview',
    {
      // A manifest is small; a smaller limit keeps this unauthenticated convenience cheap.
      bodyLimit: Math.min(serverBodyLimit, PREVIEW_BODY_LIMIT),
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
      let docs: unknown[];
      try {
        if (typeof req.body === 'string') docs = parseManifests(req.body, 'body');
        else if (req.body && typeof req.body === 'object') docs = parseManifests(JSON.stringify(req.body), 'body');
        else throw httpError('EMPTY_BODY');
      } catch (e) {
        if (e instanceof InputError) throw httpError('BAD_YAML', e.message);
        throw e;
      }
      const opts = {
        policy: deps.policy(),
        kubeVersion: req.query.kubeVersion !== undefined ? parseKubeVersion(req.query.kubeVersion) : deps.kubeVersion(),
        enforcement: req.query.required ? ('required' as const) : ('enabled' as const),
        ...(req.query.namespace ? { namespace: req.query.namespace } : {}),
      };
      let results;
      try {
        results = docs.map((d, i) => previewObject(d, opts, docs.length > 1 ? `body (document ${i + 1})` : 'body'));
      } catch (e) {
        if (e instanceof InputError) throw httpError('BAD_MANIFEST', e.message);
        throw e;
      }
      deps.metrics.requests.inc({ route: 'preview', outcome: 'previewed' }, 1);
      if (req.query.output === 'yaml') {
        const comments = results.flatMap((r) => [...r.warnings.map((w) => `# Warning: ${w}`), ...(r.denial ? [`# Error: ${r.denial}`] : [])]);
        const body = results.map((r) => toYaml(r.mutated, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
        return reply.type('application/yaml; charset=utf-8').send(`${comments.map((c) => `${c}\n`).join('')}${body}`);
      }
      return results.length === 1 ? results[0] : results;
    },
  );
}
