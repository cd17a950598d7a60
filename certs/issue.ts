/**
 * Issue a CA and a serving certificate with `selfsigned` (ECDSA P-256, SHA-256). Pure apart from
 * key generation: the caller passes the clock, so tests can issue certificates that expire.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';

export interface KeyPair {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM PKCS#8 private key. */
  readonly key: string;
}

const DAY = 24 * 60 * 60 * 1000;

/** `selfsigned` (and the PKI libraries under it) loads only when a certificate is issued: a server given its certificate never pays for it. */
async function generator() {
  return (await import('selfsigned')).default;
}

export async function issueCa(opts: { commonName?: string; days?: number; now?: Date } = {}): Promise<KeyPair> {
  const now = opts.now ?? new Date();
  const selfsigned = await generator();
  const pems = await selfsigned.generate([{ name: 'commonName', value: opts.commonName ?? 'sidelog-ca' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 5 * 60 * 1000),
    notAfterDate: new Date(now.getTime() + (opts.days ?? 3650) * DAY),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

export async function issueServing(opts: { ca: KeyPair; dnsNames: readonly string[]; ips?: readonly string[]; days?: number; now?: Date }): Promise<KeyPair> {
  const now = opts.now ?? new Date();
  const [first] = opts.dnsNames;
  if (!first) throw new Error('a serving certificate needs at least one DNS name');
  const selfsigned = await generator();
  const pems = await selfsigned.generate([{ name: 'commonName', value: first }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 5 * 60 * 1000),
    notAfterDate: new Date(now.getTime() + (opts.days ?? 365) * DAY),
    ca: { key: opts.ca.key, cert: opts.ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...opts.dnsNames.map((value) => ({ type: 2 as const, value })), ...(opts.ips ?? []).map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

export interface CertInfo {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprint256: string;
  readonly subjectAltName: string;
}

/** Read a PEM certificate; throws with a clear message when it is not one. */
export function certInfo(pem: string): CertInfo {
  const x = new X509Certificate(pem);
  return { notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo), fingerprint256: x.fingerprint256, subjectAltName: x.subjectAltName ?? '' };
}

/** Whether `key` is the private key of `cert` (a mismatched pair would fail every TLS handshake). */
export function keyMatches(pair: KeyPair): boolean {
  return new X509Certificate(pair.cert).checkPrivateKey(createPrivateKey(pair.key));
}

/** Whether `cert` was signed by `ca`. */
export function signedBy(cert: string, ca: string): boolean {
  return new X509Certificate(cert).verify(new X509Certificate(ca).publicKey);
}
