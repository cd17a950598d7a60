/**
 * The CertStore of certs/rotate.ts over the Kubernetes API (@kubernetes/client-node): Secrets in
 * the webhook's namespace and the MutatingWebhookConfiguration's caBundle. Every write is
 * conditional on the resourceVersion that was read; HTTP 409 becomes `Conflict`.
 */
import { AdmissionregistrationV1Api, ApiException, CoreV1Api, type KubeConfig, type V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { type CertStore, Conflict, type StoredSecret } from '../../certs/rotate.js';

const LABELS = { 'app.kubernetes.io/name': 'sidelog', 'app.kubernetes.io/managed-by': 'sidelog-certs' };

function status(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

/** Wrap API errors: 409 -> Conflict; anything else -> one line naming the object. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (status(e) === 409) throw new Conflict(what);
    const code = status(e);
    const reason = code !== undefined ? `HTTP ${code}` : (e as Error).message;
    throw new Error(`${what}: ${reason}`);
  }
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

export function kubeCertStore(kc: KubeConfig, namespace: string): CertStore {
  const core = kc.makeApiClient(CoreV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  /** The configuration as last read, so an update does not read it twice. */
  let lastConfig: V1MutatingWebhookConfiguration | undefined;
  return {
    async getSecret(name): Promise<StoredSecret | undefined> {
      try {
        const s = await core.readNamespacedSecret({ name, namespace });
        return { data: Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, unb64(v)])), resourceVersion: s.metadata?.resourceVersion ?? '' };
      } catch (e) {
        if (status(e) === 404) return undefined;
        throw new Error(`reading Secret ${namespace}/${name}: ${status(e) !== undefined ? `HTTP ${status(e)}` : (e as Error).message}`);
      }
    },
    async createSecret(name, type, data) {
      await call(`creating Secret ${namespace}/${name}`, () =>
        core.createNamespacedSecret({ namespace, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels: LABELS }, type, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) } }),
      );
    },
    async replaceSecret(name, type, data, resourceVersion) {
      await call(`replacing Secret ${namespace}/${name}`, () =>
        core.replaceNamespacedSecret({ name, namespace, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels: LABELS, resourceVersion }, type, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) } }),
      );
    },
    async getCaBundles(webhook) {
      const config = await call(`reading MutatingWebhookConfiguration ${webhook}`, () => admission.readMutatingWebhookConfiguration({ name: webhook }));
      lastConfig = config;
      return { bundles: (config.webhooks ?? []).map((w) => (w.clientConfig.caBundle ? unb64(w.clientConfig.caBundle) : '')), resourceVersion: config.metadata?.resourceVersion ?? '' };
    },
    async setCaBundle(webhook, pem, resourceVersion) {
      const config = lastConfig;
      if (!config || config.metadata?.name !== webhook || config.metadata?.resourceVersion !== resourceVersion) throw new Conflict(`MutatingWebhookConfiguration ${webhook}`);
      for (const w of config.webhooks ?? []) w.clientConfig.caBundle = b64(pem);
      await call(`updating MutatingWebhookConfiguration ${webhook}`, () => admission.replaceMutatingWebhookConfiguration({ name: webhook, body: config }));
    },
  };
}
