/**
 * `sidelog serve`: parse the configuration, load policy and certificate, build the server, listen,
 * reload policy and certificate when their files change, close gracefully on SIGTERM.
 */
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { type Config, loadConfig } from './config.js';
import { type KubeVersion, formatKubeVersion, parseKubeVersion } from './core/kube-version.js';
import type { KubeTarget } from './k8s/kubeconfig.js';
import { listen } from './listen.js';
import { createMetrics } from './metrics.js';
import { createPolicyStore } from './policy-store.js';
import { createPreviewPool } from './preview-pool.js';
import { buildPreviewServer, buildServer, TLS_MIN_VERSION } from './server.js';
import type { ServerDeps } from './server-deps.js';
import { type TlsMaterial, ensureSelfSigned, readTlsFiles } from './tls.js';
import { type Watcher, watchFiles } from './watch.js';

/** A hung API server must not keep the webhook from starting (and its liveness probe from passing). */
const DISCOVERY_TIMEOUT_MS = 5000;

export interface Running {
  /** The webhook listener: /mutate, /mutate/required, /healthz, /readyz. */
  readonly app: FastifyInstance;
  /** The preview listener: /preview, /metrics. */
  readonly previewApp: FastifyInstance;
  readonly url: string;
  readonly port: number;
  readonly previewUrl: string;
  readonly previewPort: number;
  /** The CA to trust when the certificate was generated here. */
  readonly caFile?: string;
  readonly certFile: string;
  readonly keyFile: string;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where the Kubernetes version comes from when neither --kube-version nor the env sets one. */
  readonly discoverVersion?: () => Promise<string | undefined>;
  /** Where the auditor (--audit) finds the cluster; default: in-cluster service account, $KUBECONFIG. */
  readonly kube?: KubeTarget;
}

/** Start the webhook from a validated configuration. Throws (one line) when policy or certificate is unusable. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<Running> {
  let tlsFiles: { certFile: string; keyFile: string; caFile?: string };
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    tlsFiles = { certFile: config.tlsCert, keyFile: config.tlsKey };
  } else {
    const generated = await ensureSelfSigned(config.certDir);
    tlsFiles = generated;
  }
  let tls: TlsMaterial = readTlsFiles(tlsFiles.certFile, tlsFiles.keyFile);
  let kubeVersion: KubeVersion | undefined = parseKubeVersion(config.kubeVersion);

  // Closures below read `policies` and `app` only when called, after both exist.
  const metrics = createMetrics({ certNotAfter: () => tls.notAfter, policyOutputs: () => Object.keys(policies.current().outputs).length });
  metrics.certReloads.inc({ result: 'success' });
  const policies = createPolicyStore(
    config.policy,
    { info: (o, m) => app.log.info(o, m), error: (o, m) => app.log.error(o, m) },
    (ok) => metrics.policyReloads.inc({ result: ok ? 'success' : 'failure' }),
  );

  const deps: ServerDeps = {
    policy: () => policies.current(),
    policyText: () => policies.text(),
    policySource: () => policies.source(),
    kubeVersion: () => kubeVersion,
    // A bad policy update keeps the last good policy in force and the server ready: taking every
    // replica out of service would refuse all pods in `required` namespaces.
    readiness: () => (tls.notAfter.getTime() <= Date.now() ? ['the serving certificate has expired'] : []),
    policyError: () => policies.lastError(),
    metrics,
  };
  const logger = { level: config.logLevel };
  const app: FastifyInstance = buildServer(
    { tls: { cert: tls.cert, key: tls.key }, bodyLimit: config.bodyLimit, logger, reviews: { requests: config.maxReviews, bytes: config.maxReviewBytes } },
    deps,
  );
  const pool = createPreviewPool({ workers: config.previewWorkers, queue: config.maxPreviews - config.previewWorkers, heapMb: config.previewHeapMb, timeoutMs: config.previewTimeoutMs });
  const previewApp: FastifyInstance = buildPreviewServer({ tls: { cert: tls.cert, key: tls.key }, logger, previews: config.maxPreviews }, deps, pool);

  if (kubeVersion === undefined && opts.discoverVersion) {
    try {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${DISCOVERY_TIMEOUT_MS / 1000}s`)), DISCOVERY_TIMEOUT_MS);
        timer.unref();
      });
      kubeVersion = parseKubeVersion(await Promise.race([opts.discoverVersion(), timeout]).finally(() => clearTimeout(timer)));
      app.log.info({ kubeVersion: formatKubeVersion(kubeVersion) }, 'Kubernetes version discovered');
    } catch (e) {
      app.log.warn({ error: (e as Error).message }, 'cannot read the Kubernetes version; native sidecars only with nativeSidecars: always');
    }
  }

  const watchers: Watcher[] = [];
  if (config.policy !== undefined) watchers.push(watchFiles([config.policy], config.watchInterval, () => void policies.reload()));
  watchers.push(
    watchFiles([tlsFiles.certFile, tlsFiles.keyFile], config.watchInterval, () => {
      try {
        const next = readTlsFiles(tlsFiles.certFile, tlsFiles.keyFile);
        for (const a of [app, previewApp]) (a.server as unknown as import('node:tls').Server).setSecureContext({ cert: next.cert, key: next.key, minVersion: TLS_MIN_VERSION });
        tls = next;
        metrics.certReloads.inc({ result: 'success' });
        app.log.info({ notAfter: next.notAfter.toISOString() }, 'serving certificate reloaded');
      } catch (e) {
        // A Secret update may show the new certificate before the new key: try again next tick.
        metrics.certReloads.inc({ result: 'failure' });
        app.log.warn({ error: (e as Error).message }, 'serving certificate not reloaded; the current one stays in use');
      }
    }),
  );

  const auditor = config.audit
    ? await (await import('./ops/auditor.js')).startAuditor({ registry: metrics.registry, policy: () => policies.current(), kubeVersion: () => kubeVersion, log: app.log, ...(opts.kube ? { kube: opts.kube } : {}) })
    : undefined;
  const port = await listen(app, config.port, config.host);
  const previewPort = await listen(previewApp, config.previewPort, config.host);
  app.log.info({ host: config.host, port, previewPort, policy: policies.source(), kubeVersion: formatKubeVersion(kubeVersion) }, 'sidelog listening');
  return {
    app,
    previewApp,
    port,
    previewPort,
    url: `https://localhost:${port}`,
    previewUrl: `https://localhost:${previewPort}`,
    ...(tlsFiles.caFile !== undefined ? { caFile: tlsFiles.caFile } : {}),
    certFile: tlsFiles.certFile,
    keyFile: tlsFiles.keyFile,
    close: async () => {
      for (const w of watchers) w.close();
      await auditor?.stop();
      await Promise.all([app.close(), previewApp.close()]);
      await pool.close();
    },
  };
}

export const SERVE_FLAGS = {
  policy: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  port: { type: 'string', short: 'p' },
  'preview-port': { type: 'string' },
  host: { type: 'string' },
  'cert-dir': { type: 'string' },
  'kube-version': { type: 'string' },
  'discover-version': { type: 'boolean' },
  'body-limit': { type: 'string' },
  'max-reviews': { type: 'string' },
  'max-review-bytes': { type: 'string' },
  'preview-workers': { type: 'string' },
  'max-previews': { type: 'string' },
  'preview-heap-mb': { type: 'string' },
  'preview-timeout-ms': { type: 'string' },
  'log-level': { type: 'string' },
  'watch-interval': { type: 'string' },
  'shutdown-seconds': { type: 'string' },
  audit: { type: 'boolean' },
} as const;

/** Flags as config keys: `--tls-cert` -> `tlsCert`. */
export function flagsToConfig(argv: string[]): Record<string, unknown> {
  const { values } = parseArgs({ args: argv, options: SERVE_FLAGS, strict: true });
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
}

export function tryItText(r: Running): string {
  const ca = r.caFile ? `--cacert ${r.caFile} ` : '';
  return [
    `sidelog is serving on ${r.url}${r.caFile ? ` with a self-signed certificate (CA: ${r.caFile})` : ''}`,
    `  (/mutate and probes; previews and metrics on ${r.previewUrl})`,
    'Try it:',
    `  curl ${ca}-H 'Content-Type: application/yaml' --data-binary @examples/pod.yaml '${r.previewUrl}/preview?output=yaml'`,
    `  curl ${ca}${r.url}/readyz`,
    `  curl ${ca}${r.previewUrl}/metrics`,
    '',
  ].join('\n');
}
