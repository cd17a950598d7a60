/**
 * The one error table: stable codes, HTTP statuses and messages for everything the server can
 * refuse. Routes throw `httpError(code, detail)`; the error handler turns it into
 * `{error: {code, message}}` with the status, and counts it.
 */
export const ERRORS = {
  BAD_JSON: { status: 400, message: 'the body is not valid JSON' },
  BAD_YAML: { status: 400, message: 'the body is not valid YAML or JSON' },
  BAD_REVIEW: { status: 400, message: 'not a valid AdmissionReview' },
  BAD_MANIFEST: { status: 400, message: 'not a manifest sidelog can preview' },
  BAD_QUERY: { status: 400, message: 'invalid query parameter' },
  TOO_DEEP: { status: 400, message: 'the body nests deeper than any Kubernetes object' },
  EMPTY_BODY: { status: 400, message: 'the body is empty' },
  NOT_FOUND: { status: 404, message: 'no such endpoint' },
  METHOD: { status: 405, message: 'method not allowed' },
  TOO_LARGE: { status: 413, message: 'the body is larger than the limit' },
  PREVIEW_LIMIT: { status: 413, message: 'the preview needs more than one preview may use' },
  MEDIA_TYPE: { status: 415, message: 'unsupported content type' },
  ENCODING: { status: 415, message: 'unsupported content encoding (send the body uncompressed)' },
  BUSY: { status: 429, message: 'too many requests in flight; retry shortly' },
  NOT_READY: { status: 503, message: 'not ready' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class HttpError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, detail?: string) {
    super(detail ? `${ERRORS[code].message}: ${detail}` : ERRORS[code].message);
    this.name = 'HttpError';
    this.code = code;
    this.status = ERRORS[code].status;
  }
}

export function httpError(code: ErrorCode, detail?: string): HttpError {
  return new HttpError(code, detail);
}

/** Fastify's own error codes, mapped onto the table. */
export const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EMPTY_BODY',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_JSON',
};
