/**
 * `buildServer(options, deps)` returns the fastify app, ready to listen, and never listens itself.
 * Serving, not deciding: every decision is in core/; policy, certificate and version arrive as
 * functions in `deps`, so reloads take effect on the next request.
 */
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import type { KubeVersion } from './core/kube-version.js';
import type { Policy } from './core/policy.js';
import { ERRORS, type ErrorCode, FASTIFY_CODES, HttpError } from './errors.js';
import { healthRoutes } from './http/health.js';
import { metricsRoutes } from './http/metrics.js';
import { mutateRoutes } from './http/mutate.js';
import { previewRoutes } from './http/preview.js';
import type { Metrics } from './metrics.js';

export interface ServerDeps {
  readonly policy: () => Policy;
  readonly policySource: () => string;
  readonly kubeVersion: () => KubeVersion | undefined;
  /** Why the server is not ready (empty when ready). */
  readonly readiness: () => string[];
  /** The error of the last policy update that was refused, if the last one was. */
  readonly policyError?: () => string | undefined;
  readonly metrics: Metrics;
}

export interface ServerOptions {
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly bodyLimit: number;
  readonly logger?: boolean | { level: string };
}

export const TLS_MIN_VERSION = 'TLSv1.2';
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'text/plain'];

export function buildServer(options: ServerOptions, deps: ServerDeps): FastifyInstance {
  const logger = options.logger ?? false;
  const app = Fastify({
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key, minVersion: TLS_MIN_VERSION } } : {}),
    bodyLimit: options.bodyLimit,
    logger,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // Idle keep-alive connections are closed at once on shutdown; busy ones finish their request.
    forceCloseConnections: 'idle',
    keepAliveTimeout: 65_000,
    requestTimeout: 30_000,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false } },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req) => {
    (req as { startedAt?: bigint }).startedAt = process.hrtime.bigint();
  });
  app.addHook('onResponse', async (req, reply) => {
    const startedAt = (req as { startedAt?: bigint }).startedAt;
    const route = req.routeOptions.url ?? 'unmatched';
    if (startedAt !== undefined) deps.metrics.duration.observe({ route }, Number(process.hrtime.bigint() - startedAt) / 1e9);
    if (reply.statusCode >= 500) req.log.warn({ route, status: reply.statusCode }, 'request failed');
  });

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    let code: ErrorCode = 'INTERNAL';
    let message: string = ERRORS.INTERNAL.message;
    if (err instanceof HttpError) {
      code = err.code;
      message = err.message;
    } else if (typeof err.code === 'string' && FASTIFY_CODES[err.code]) {
      code = FASTIFY_CODES[err.code]!;
      message = code === 'TOO_LARGE' ? `${ERRORS.TOO_LARGE.message} (${req.routeOptions.bodyLimit ?? options.bodyLimit} bytes)` : `${ERRORS[code].message}: ${err.message}`;
    } else if ('validation' in err && err.validation) {
      code = 'BAD_QUERY';
      message = `${ERRORS.BAD_QUERY.message}: ${err.message}`;
    } else {
      req.log.error({ err }, 'unexpected error');
    }
    deps.metrics.badRequests.inc({ code });
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.requests.inc({ route: route.replace(/^\//, '') || 'root', outcome: 'error' });
    req.log.info({ code, route, status: ERRORS[code].status }, message);
    return reply.code(ERRORS[code].status).send({ error: { code, message } });
  });

  app.setNotFoundHandler((req, reply) => {
    deps.metrics.badRequests.inc({ code: 'NOT_FOUND' });
    return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `${ERRORS.NOT_FOUND.message}: ${req.method} ${req.url.split('?')[0]}` } });
  });

  mutateRoutes(app, deps);
  previewRoutes(app, deps, options.bodyLimit);
  healthRoutes(app, deps);
  metricsRoutes(app, deps);
  return app;
}
