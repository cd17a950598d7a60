/**
 * The serving certificate: read from files (a mounted Secret) and checked before use, or a
 * self-signed one generated for local use. Files are written atomically, so a reader never sees
 * half a key.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { type KeyPair, certInfo, issueCa, issueServing, keyMatches, signedBy } from '../certs/issue.js';

export interface TlsMaterial extends KeyPair {
  readonly notAfter: Date;
}

/** Read and check a certificate and key. Throws one clear line naming the file on any problem. */
export function readTlsFiles(certFile: string, keyFile: string): TlsMaterial {
  const read = (f: string, what: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (e) {
      throw new Error(`${f}: cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  const cert = read(certFile, 'certificate');
  const key = read(keyFile, 'private key');
  let notAfter: Date;
  try {
    notAfter = certInfo(cert).notAfter;
  } catch {
    throw new Error(`${certFile}: not a PEM certificate`);
  }
  let matches: boolean;
  try {
    matches = keyMatches({ cert, key });
  } catch {
    throw new Error(`${keyFile}: not a PEM private key`);
  }
  if (!matches) throw new Error(`${keyFile}: the private key does not belong to the certificate in ${certFile}`);
  return { cert, key, notAfter };
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

export interface SelfSigned {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly reused: boolean;
}

/**
 * A CA and a serving certificate for localhost in `dir`, reused while they have more than a day
 * left and belong together; otherwise issued afresh.
 */
export async function ensureSelfSigned(dir: string, now: Date = new Date()): Promise<SelfSigned> {
  const abs = resolve(dir);
  const files = { caFile: join(abs, 'ca.crt'), certFile: join(abs, 'tls.crt'), keyFile: join(abs, 'tls.key') };
  if (existsSync(files.caFile) && existsSync(files.certFile) && existsSync(files.keyFile)) {
    try {
      const m = readTlsFiles(files.certFile, files.keyFile);
      if (m.notAfter.getTime() - now.getTime() > 24 * 3600 * 1000 && signedBy(m.cert, readFileSync(files.caFile, 'utf8'))) {
        return { ...files, reused: true };
      }
    } catch {
      // Unusable leftovers: issue new ones below.
    }
  }
  mkdirSync(abs, { recursive: true, mode: 0o700 });
  const ca = await issueCa({ commonName: 'sidelog local CA', now });
  const serving = await issueServing({ ca, dnsNames: ['localhost', hostname()].filter((h, i, a) => a.indexOf(h) === i && /^[A-Za-z0-9.-]{1,253}$/.test(h)), ips: ['127.0.0.1', '::1'], now });
  writeAtomic(files.keyFile, serving.key, 0o600);
  writeAtomic(files.certFile, serving.cert, 0o644);
  writeAtomic(files.caFile, ca.cert, 0o644);
  return { ...files, reused: false };
}
