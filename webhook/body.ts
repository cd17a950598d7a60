/**
 * Request bodies as the client sent them. Every body is kept as its raw bytes (the review memo
 * hashes them; preview processes parse them), read only in the content types a route takes, and
 * never compressed: a Content-Encoding other than identity is refused (415 ENCODING) before the
 * body is read. JSON is parsed with `JSON.parse`, which makes `__proto__` an ordinary own key
 * (valid JSON is never called invalid, and no prototype changes), after a scan that refuses
 * nesting deeper than any Kubernetes object (400 TOO_DEEP) before anything can recurse on it.
 */
import type { FastifyInstance } from 'fastify';
import { httpError } from './errors.js';
import { type BodyScan, MAX_DEPTH, scanBody } from './review-bytes.js';

export const JSON_TYPES = ['application/json'];
export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'text/plain'];

/** A body as received: its bytes, and whether it was sent as YAML. */
export interface RawBody {
  readonly bytes: Buffer;
  readonly yaml: boolean;
}

export function isRawBody(body: unknown): body is RawBody {
  return typeof body === 'object' && body !== null && Buffer.isBuffer((body as RawBody).bytes);
}

/** Take bodies of `types` as raw bytes; refuse compressed bodies. */
export function rawBodies(app: FastifyInstance, types: { json?: boolean; yaml?: boolean }): void {
  app.removeAllContentTypeParsers();
  if (types.json) app.addContentTypeParser(JSON_TYPES, { parseAs: 'buffer' }, (_req, bytes, done) => done(null, { bytes: bytes as Buffer, yaml: false } satisfies RawBody));
  if (types.yaml) app.addContentTypeParser(YAML_TYPES, { parseAs: 'buffer' }, (_req, bytes, done) => done(null, { bytes: bytes as Buffer, yaml: true } satisfies RawBody));
  // Hooks take a callback, not a promise: no promise and no microtask per request per hook.
  app.addHook('onRequest', (req, _reply, done) => {
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') done(httpError('ENCODING', `Content-Encoding: ${encoding}`));
    else done();
  });
}

/** Scan a JSON body (with `shape`, for its review's shape too): refuse it when empty or too deep. */
export function scanJson(bytes: Buffer, shape = false): BodyScan {
  if (bytes.length === 0) throw httpError('EMPTY_BODY');
  const scan = scanBody(bytes, shape);
  if (scan.depth > MAX_DEPTH) throw httpError('TOO_DEEP', `more than ${MAX_DEPTH} levels of objects and arrays`);
  return scan;
}

/** Parse a scanned JSON body. */
export function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw httpError('BAD_JSON', (e as Error).message);
  }
}
