import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './repo-root.js';

/** The processes scripts/dev-certs.sh makes a certificate for. */
export type CertificateOwner = 'master' | 'storage' | 'worker' | 'scheduler' | 'web' | 'cli';

/** What scripts/dev-certs.sh wrote into `dir`: a CA and one certificate per process, all signed by it. */
export interface DevCertificates {
  dir: string;
  /** ca.crt: the CA that signed every certificate here */
  caFile: string;
  ca: Buffer;
  files(owner: CertificateOwner): { certFile: string; keyFile: string };
  /** PEM contents, for servers and clients made in the test's own process */
  pem(owner: CertificateOwner): { cert: Buffer; key: Buffer };
}

/**
 * A fresh development CA and certificates in `dir`, made by the script
 * operators use (scripts/dev-certs.sh, which needs the openssl CLI); each
 * call makes another CA.
 */
export async function devCertificates(dir: string): Promise<DevCertificates> {
  await promisify(execFile)('bash', [join(REPO_ROOT, 'scripts', 'dev-certs.sh'), dir]);
  const files = (owner: CertificateOwner) => ({ certFile: join(dir, `${owner}.crt`), keyFile: join(dir, `${owner}.key`) });
  const caFile = join(dir, 'ca.crt');
  return {
    dir,
    caFile,
    ca: readFileSync(caFile),
    files,
    pem(owner) {
      const { certFile, keyFile } = files(owner);
      return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
    },
  };
}
