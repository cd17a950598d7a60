/**
 * Caps on work in flight. A request over its listener's cap is answered at once, before its body
 * is parsed (429 BUSY, `Retry-After: 1`; Node reads the rest of the body and drops it chunk by
 * chunk, so the client always gets its answer), instead of adding its body and its work to memory. Each cap counts requests and the
 * body bytes they announced (Content-Length; the body limit when they announced none).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { httpError } from './errors.js';

export interface CapOptions {
  /** Requests in flight at once. */
  readonly requests: number;
  /** Announced body bytes in flight at once. */
  readonly bytes: number;
}

export interface Cap {
  readonly limits: CapOptions;
  readonly inFlight: number;
  readonly bytes: number;
  /** Reserve room for one request of `bytes`; returns its release, or undefined when over the cap. */
  tryEnter(bytes: number): (() => void) | undefined;
}

export function createCap(opts: CapOptions): Cap {
  let inFlight = 0;
  let bytes = 0;
  return {
    limits: opts,
    get inFlight() {
      return inFlight;
    },
    get bytes() {
      return bytes;
    },
    tryEnter(n) {
      if (inFlight + 1 > opts.requests || bytes + n > opts.bytes) return undefined;
      inFlight++;
      bytes += n;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        inFlight--;
        bytes -= n;
      };
    },
  };
}

function announcedBytes(req: FastifyRequest, bodyLimit: number): number {
  const length = req.headers['content-length'];
  if (length === undefined) return req.method === 'GET' || req.method === 'HEAD' ? 0 : bodyLimit;
  const n = Number(length);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, bodyLimit) : bodyLimit;
}

/**
 * Hold the requests to `paths` to `cap`. The reservation ends when the response ends or the
 * connection closes, whichever comes first.
 */
export function limitInFlight(app: FastifyInstance, cap: Cap, paths: readonly string[], bodyLimit: number): void {
  const limited = new Set(paths);
  app.addHook('onRequest', (req, reply, done) => {
    if (!limited.has(req.routeOptions.url ?? '')) return done();
    const release = cap.tryEnter(announcedBytes(req, bodyLimit));
    if (!release) {
      reply.header('retry-after', '1');
      return done(httpError('BUSY', `${cap.limits.requests} requests or ${Math.round(cap.limits.bytes / 1024)} KiB of bodies already in flight`));
    }
    reply.raw.once('close', release);
    done();
  });
}
