import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './temp.js';

export interface TestCertificate {
  /** PEM; also the CA that clients trust, since it signs itself */
  cert: Buffer;
  key: Buffer;
}

/**
 * A throwaway self-signed certificate for localhost and 127.0.0.1, made by the
 * openssl CLI (node:crypto makes keys but cannot sign certificates).
 */
export async function selfSignedCertificate(commonName = 'localhost'): Promise<TestCertificate> {
  const dir = await tempDir('cloudai-tls-');
  try {
    const cert = join(dir.path, 'cert.pem');
    const key = join(dir.path, 'key.pem');
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${commonName}`,
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    return { cert: await readFile(cert), key: await readFile(key) };
  } finally {
    await dir.remove();
  }
}
