/**
 * Server configuration: flags over env vars over defaults, parsed once with zod, every problem
 * listed, the result frozen. Use `??`, never `||`: 0 and false must be settable.
 */
import { z } from 'zod';
import { parseKubeVersion } from './core/kube-version.js';
import { type Problem, InputError, zodProblems } from './core/problems.js';

const intText = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const boolText = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

export const ConfigSchema = z
  .strictObject({
    port: intText(0, 65535).default(8443),
    /** `::` listens on IPv6 and IPv4 (falling back to 0.0.0.0 where IPv6 is unavailable). */
    host: z.string().min(1).default('::'),
    /** The second listener: /preview and /metrics. */
    previewPort: intText(0, 65535).default(8444),
    policy: z.string().min(1).optional(),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    /** Where a generated self-signed certificate is written. */
    certDir: z.string().min(1).default('.sidelog'),
    /** Target cluster version for nativeSidecars: auto; discovered from the API in-cluster when unset. */
    kubeVersion: z.string().refine((v) => parseKubeVersion(v) !== undefined, 'must look like 1.30').optional(),
    /** Ask the API server for its version at start (in-cluster). */
    discoverVersion: boolText.default(false),
    bodyLimit: intText(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
    /** In-flight /mutate reviews at once; more are answered 429 at once (docs/capacity.md). */
    maxReviews: intText(1, 100_000).default(64),
    /** Announced body bytes of in-flight /mutate reviews at once. */
    maxReviewBytes: intText(1024, 1024 * 1024 * 1024).default(16 * 1024 * 1024),
    /** Preview child processes, each with its own heap of previewHeapMb. */
    previewWorkers: intText(1, 16).default(1),
    /** In-flight previews at once (running and waiting for a preview process). */
    maxPreviews: intText(1, 1000).default(4),
    /**
     * Old-generation heap of each preview process, in MB. At least 32: a preview process holds
     * ~16 MB once loaded on Node.js 24 (12.6 on Node.js 20), so a smaller heap leaves no room for
     * any preview at all.
     */
    previewHeapMb: intText(32, 4096).default(64),
    /** One preview's run time in its child, in ms; past it the child is killed (413 PREVIEW_LIMIT). */
    previewTimeoutMs: intText(100, 600_000).default(20_000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** How often mounted files (policy, certificate) are checked for changes, in ms. */
    watchInterval: intText(50, 600_000).default(2000),
    /** Seconds to finish in-flight requests on SIGTERM. */
    shutdownSeconds: intText(0, 300).default(20),
    /** Run the in-server auditor (webhook/ops/auditor.ts); needs the RBAC of manifests/components/auditor. */
    audit: boolText.default(false),
  })
  .superRefine((c, ctx) => {
    if (c.port !== 0 && c.port === c.previewPort) {
      ctx.addIssue({ code: 'custom', path: ['previewPort'], message: 'must differ from --port (/mutate and /preview have listeners of their own)' });
    }
    if (c.maxReviewBytes < c.bodyLimit) {
      ctx.addIssue({ code: 'custom', path: ['maxReviewBytes'], message: 'must be at least --body-limit (one review of the largest size must fit)' });
    }
    if (c.maxPreviews < c.previewWorkers) {
      ctx.addIssue({ code: 'custom', path: ['maxPreviews'], message: 'must be at least --preview-workers' });
    }
    if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.tlsCert === undefined ? 'tlsCert' : 'tlsKey'], message: '--tls-cert and --tls-key go together' });
    }
  });

export type Config = Readonly<z.output<typeof ConfigSchema>>;

/** Env var for each setting (flags win). */
export const ENV_VARS: Readonly<Record<string, string>> = {
  port: 'SIDELOG_PORT',
  host: 'SIDELOG_HOST',
  previewPort: 'SIDELOG_PREVIEW_PORT',
  policy: 'SIDELOG_POLICY',
  tlsCert: 'SIDELOG_TLS_CERT',
  tlsKey: 'SIDELOG_TLS_KEY',
  certDir: 'SIDELOG_CERT_DIR',
  kubeVersion: 'SIDELOG_KUBE_VERSION',
  discoverVersion: 'SIDELOG_DISCOVER_VERSION',
  bodyLimit: 'SIDELOG_BODY_LIMIT',
  maxReviews: 'SIDELOG_MAX_REVIEWS',
  maxReviewBytes: 'SIDELOG_MAX_REVIEW_BYTES',
  previewWorkers: 'SIDELOG_PREVIEW_WORKERS',
  maxPreviews: 'SIDELOG_MAX_PREVIEWS',
  previewHeapMb: 'SIDELOG_PREVIEW_HEAP_MB',
  previewTimeoutMs: 'SIDELOG_PREVIEW_TIMEOUT_MS',
  logLevel: 'SIDELOG_LOG_LEVEL',
  watchInterval: 'SIDELOG_WATCH_INTERVAL_MS',
  shutdownSeconds: 'SIDELOG_SHUTDOWN_SECONDS',
  audit: 'SIDELOG_AUDIT',
};

const FLAG_OF = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Parse flags (already split into an object by key) and env vars. Throws InputError listing every problem. */
export function loadConfig(flags: Readonly<Record<string, unknown>>, env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, envName] of Object.entries(ENV_VARS)) {
    const value = flags[key] ?? env[envName];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems: Problem[] = zodProblems('', parsed.error).map((p) => ({
      field: `${FLAG_OF(p.field)} (${ENV_VARS[p.field] ?? p.field})`,
      message: p.message,
    }));
    throw new InputError('configuration', problems);
  }
  return Object.freeze(parsed.data);
}
