/**
 * `sidelog certs ensure`: keep one consistent CA Secret, serving Secret and webhook caBundle.
 * Idempotent (a second run changes nothing), safe when several runs race (every write is
 * conditional on the version read, a conflict means re-read and decide again), and ordered so no
 * admission request fails during a rotation: a new CA enters the caBundle *before* a serving
 * certificate signed by it is published, and the old CA stays in the bundle until it expires.
 *
 * The API calls go through the CertStore interface; webhook/k8s/cert-store.ts implements it with
 * @kubernetes/client-node.
 */
import { type KeyPair, certInfo, issueCa, issueServing, keyMatches, signedBy } from './issue.js';

export class Conflict extends Error {
  constructor(what: string) {
    super(`conflict writing ${what}`);
    this.name = 'Conflict';
  }
}

export interface StoredSecret {
  /** Decoded values by key. */
  readonly data: Readonly<Record<string, string>>;
  readonly resourceVersion: string;
}

export interface CertStore {
  getSecret(name: string): Promise<StoredSecret | undefined>;
  /** Throws Conflict when the Secret already exists. */
  createSecret(name: string, type: string, data: Record<string, string>): Promise<void>;
  /** Throws Conflict when the Secret changed since `resourceVersion`. */
  replaceSecret(name: string, type: string, data: Record<string, string>, resourceVersion: string): Promise<void>;
  /** The caBundle of every webhook entry (PEM), and the configuration's version. Throws when missing. */
  getCaBundles(webhook: string): Promise<{ bundles: string[]; resourceVersion: string }>;
  /** Set every entry's caBundle. Throws Conflict when the configuration changed since `resourceVersion`. */
  setCaBundle(webhook: string, pem: string, resourceVersion: string): Promise<void>;
}

export interface EnsureOptions {
  readonly namespace: string;
  readonly service: string;
  readonly secret: string;
  readonly caSecret: string;
  readonly webhook: string;
  readonly now?: Date;
  /** Validity of a new serving certificate. */
  readonly days?: number;
  /** Validity of a new CA. */
  readonly caDays?: number;
  /** Renew when less than this is left. */
  readonly renewBeforeDays?: number;
  /** Issue a new serving certificate even if the current one is fine. */
  readonly forceServing?: boolean;
  /** Issue a new CA (and serving certificate) even if the current one is fine. */
  readonly forceCa?: boolean;
}

export type Action = 'kept' | 'created' | 'rotated' | 'updated';

export interface EnsureReport {
  readonly ca: Action;
  readonly caBundle: Action;
  readonly serving: Action;
  readonly notAfter: Date;
  readonly attempts: number;
}

const DAY = 24 * 3600 * 1000;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitPems(bundle: string): string[] {
  return bundle.match(PEM_CERT) ?? [];
}

export function dnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

function validFor(pem: string, now: Date): number {
  try {
    return certInfo(pem).notAfter.getTime() - now.getTime();
  } catch {
    return -1;
  }
}

function usableCa(s: StoredSecret | undefined, now: Date, renewMs: number): KeyPair | undefined {
  const cert = s?.data['ca.crt'];
  const key = s?.data['ca.key'];
  if (!cert || !key) return undefined;
  try {
    if (!keyMatches({ cert, key })) return undefined;
  } catch {
    return undefined;
  }
  // A CA is replaced well before it expires: it must outlive every certificate it signs.
  return validFor(cert, now) > 2 * renewMs ? { cert, key } : undefined;
}

function servingOk(s: StoredSecret | undefined, ca: KeyPair, names: readonly string[], now: Date, renewMs: number): boolean {
  const cert = s?.data['tls.crt'];
  const key = s?.data['tls.key'];
  if (!cert || !key) return false;
  try {
    if (!keyMatches({ cert, key }) || !signedBy(cert, ca.cert)) return false;
    const san = certInfo(cert).subjectAltName;
    if (!names.every((n) => san.includes(`DNS:${n}`))) return false;
  } catch {
    return false;
  }
  return validFor(cert, now) > renewMs;
}

/** Make the Secrets and the caBundle consistent; see the module comment. */
export async function ensureCerts(store: CertStore, opts: EnsureOptions): Promise<EnsureReport> {
  const now = opts.now ?? new Date();
  const renewMs = (opts.renewBeforeDays ?? 30) * DAY;
  const names = dnsNames(opts.service, opts.namespace);
  let forceCa = opts.forceCa ?? false;
  let forceServing = (opts.forceServing ?? false) || forceCa;
  let ca: Action = 'kept';
  let caBundle: Action = 'kept';
  let serving: Action = 'kept';
  for (let attempt = 1; attempt <= 8; attempt++) {
    try {
      // 1. The CA.
      const caStored = await store.getSecret(opts.caSecret);
      let caPair = forceCa ? undefined : usableCa(caStored, now, renewMs);
      if (!caPair) {
        caPair = await issueCa({ commonName: `${opts.service}.${opts.namespace} CA`, days: opts.caDays ?? 3650, now });
        const data = { 'ca.crt': caPair.cert, 'ca.key': caPair.key };
        if (caStored) await store.replaceSecret(opts.caSecret, 'Opaque', data, caStored.resourceVersion);
        else await store.createSecret(opts.caSecret, 'Opaque', data);
        ca = caStored ? 'rotated' : 'created';
        forceCa = false;
        forceServing = true;
      }

      // 2. The caBundle: the current CA first, plus any older CA still valid (so certificates it
      //    signed keep verifying during a rotation).
      const { bundles, resourceVersion } = await store.getCaBundles(opts.webhook);
      const older = [...new Set(bundles.flatMap(splitPems))].filter((p) => p.trim() !== caPair!.cert.trim() && validFor(p, now) > 0).slice(0, 1);
      const wanted = `${[caPair.cert.trim(), ...older.map((p) => p.trim())].join('\n')}\n`;
      if (bundles.length === 0 || bundles.some((b) => b !== wanted)) {
        await store.setCaBundle(opts.webhook, wanted, resourceVersion);
        caBundle = 'updated';
      }

      // 3. The serving certificate, signed by the CA the bundle now trusts.
      const servingStored = await store.getSecret(opts.secret);
      if (forceServing || !servingOk(servingStored, caPair, names, now, renewMs)) {
        const pair = await issueServing({ ca: caPair, dnsNames: names, days: opts.days ?? 365, now });
        const data = { 'tls.crt': pair.cert, 'tls.key': pair.key, 'ca.crt': caPair.cert };
        if (servingStored) await store.replaceSecret(opts.secret, 'kubernetes.io/tls', data, servingStored.resourceVersion);
        else await store.createSecret(opts.secret, 'kubernetes.io/tls', data);
        serving = servingStored ? 'rotated' : 'created';
        forceServing = false;
        return { ca, caBundle, serving, notAfter: certInfo(pair.cert).notAfter, attempts: attempt };
      }
      return { ca, caBundle, serving, notAfter: certInfo(servingStored!.data['tls.crt']!).notAfter, attempts: attempt };
    } catch (e) {
      if (!(e instanceof Conflict)) throw e;
      // Someone else wrote first: read again and decide again.
    }
  }
  throw new Error('gave up after 8 conflicting writes; is another process rewriting the Secrets?');
}
