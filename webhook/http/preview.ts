/**
 * POST /preview: a Pod or workload (JSON or YAML, one or many documents) in; the patch, the
 * mutated object, the warnings and the generated configs out. `?output=yaml` returns the mutated
 * manifest, with the warnings as leading comments.
 */
import type { FastifyInstance } from 'fastify';
import { stringify as toYaml } from 'yaml';
import { parseKubeVersion } from '../core/kube-version.js';
import { InputError } from '../core/problems.js';
import { type ManifestDocument, diagnostics, jsonAnswer, parseManifestDocuments, previewManifest } from '../core/preview.js';
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
      let docs: ManifestDocument[];
      try {
        if (typeof req.body === 'string') docs = parseManifestDocuments(req.body, 'body');
        else if (req.body && typeof req.body === 'object') docs = parseManifestDocuments(JSON.stringify(req.body), 'body');
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
      let preview;
      try {
        preview = previewManifest(docs, opts, 'body');
      } catch (e) {
        if (e instanceof InputError) throw httpError('BAD_MANIFEST', e.message);
        throw e;
      }
      deps.metrics.requests.inc({ route: 'preview', outcome: 'previewed' }, 1);
      const { results, documents } = preview;
      if (req.query.output === 'yaml') {
        const comments = results.flatMap((r) => diagnostics(r, results.length > 1).map((d) => `# ${d}`));
        const body = documents.map((d) => toYaml(d, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
        return reply.type('application/yaml; charset=utf-8').send(`${comments.map((c) => `${c}\n`).join('')}${body}`);
      }
      return jsonAnswer(docs, results);
    },
  );
}
