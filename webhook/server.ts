/**
 * The two listeners' apps. `buildServer` is the webhook listener: `/mutate`, `/mutate/required`
 * and the probes, nothing else, so nothing else can delay an admission review.
 * `buildPreviewServer` is the second listener: `/preview` (worked in preview processes) and
 * `/metrics`. Both return the fastify app, ready to listen, and never listen themselves.
 * Serving, not deciding: every decision is in core/; policy, certificate and version arrive as
 * functions in `deps`, so reloads take effect on the next request.
 */
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import { type CapOptions, createCap, limitInFlight } from './caps.js';
import { rawBodies } from './body.js';
import { ERRORS, type ErrorCode, FASTIFY_CODES, HttpError } from './errors.js';
import { healthRoutes } from './http/health.js';
import { metricsRoutes } from './http/metrics.js';
import { mutateRoutes } from './http/mutate.js';
import { PREVIEW_BODY_LIMIT, previewRoutes } from './http/preview.js';
import type { PreviewPool } from './preview-pool.js';
import { type ReviewCacheOptions, REVIEW_CACHE_DEFAULTS, createReviewCache } from './review-cache.js';
import type { ServerDeps } from './server-deps.js';

export interface ServerOptions {
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly bodyLimit: number;
  readonly logger?: boolean | { level: string };
  /** In-flight `/mutate` reviews: count and announced body bytes. */
  readonly reviews: CapOptions;
  readonly reviewCache?: ReviewCacheOptions;
}

export interface PreviewServerOptions {
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly logger?: boolean | { level: string };
  /** In-flight previews (running and waiting for a preview process). */
  readonly previews: number;
}

export const TLS_MIN_VERSION = 'TLSv1.2';

/** What both listeners share: TLS, logging, timing, the error table. */
function createApp(tls: ServerOptions['tls'], logger: ServerOptions['logger'], bodyLimit: number, deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    ...(tls ? { https: { cert: tls.cert, key: tls.key, minVersion: TLS_MIN_VERSION } } : {}),
    bodyLimit,
    logger: logger ?? false,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // Idle keep-alive connections are closed at once on shutdown; busy ones finish their request.
    forceCloseConnections: 'idle',
    keepAliveTimeout: 65_000,
    requestTimeout: 30_000,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false } },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  // Hooks take a callback, not a promise: no promise and no microtask per request per hook. The
  // time a request took is fastify's own (`reply.elapsedTime`, from before the onRequest hooks).
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.duration.observe({ route }, reply.elapsedTime / 1e3);
    if (reply.statusCode >= 500) req.log.warn({ route, status: reply.statusCode }, 'request failed');
    done();
  });

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    let code: ErrorCode = 'INTERNAL';
    let message: string = ERRORS.INTERNAL.message;
    if (err instanceof HttpError) {
      code = err.code;
      message = err.message;
    } else if (typeof err.code === 'string' && FASTIFY_CODES[err.code]) {
      code = FASTIFY_CODES[err.code]!;
      message = code === 'TOO_LARGE' ? `${ERRORS.TOO_LARGE.message} (${req.routeOptions.bodyLimit ?? bodyLimit} bytes)` : `${ERRORS[code].message}: ${err.message}`;
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
  return app;
}

/** The webhook listener: admission reviews and probes. */
export function buildServer(options: ServerOptions, deps: ServerDeps): FastifyInstance {
  const app = createApp(options.tls, options.logger, options.bodyLimit, deps);
  rawBodies(app, { json: true });
  const reviews = createCap(options.reviews);
  deps.metrics.watchInFlight('reviews', () => reviews.inFlight);
  limitInFlight(app, reviews, ['/mutate', '/mutate/required'], options.bodyLimit);
  mutateRoutes(app, deps, createReviewCache(options.reviewCache ?? REVIEW_CACHE_DEFAULTS));
  healthRoutes(app, deps);
  return app;
}

/** The preview listener: previews, worked by `pool`, and the metrics. */
export function buildPreviewServer(options: PreviewServerOptions, deps: ServerDeps, pool: PreviewPool): FastifyInstance {
  const app = createApp(options.tls, options.logger, PREVIEW_BODY_LIMIT, deps);
  rawBodies(app, { json: true, yaml: true });
  const previews = createCap({ requests: options.previews, bytes: options.previews * PREVIEW_BODY_LIMIT });
  deps.metrics.watchInFlight('previews', () => previews.inFlight);
  limitInFlight(app, previews, ['/preview'], PREVIEW_BODY_LIMIT);
  previewRoutes(app, deps, pool, PREVIEW_BODY_LIMIT);
  metricsRoutes(app, deps);
  return app;
}
