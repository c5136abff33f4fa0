import { readFileSync } from 'node:fs';
import type { ClientTls } from '@cloudai/rpc/client';
import { UsageError } from './errors.js';

/** Paths from --tls-ca/--tls-cert/--tls-key or their variables (later also a profile's CA). */
export interface MasterTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * How the CLI secures its connection to the master: TLS verified against
 * `ca` when one is given, presenting `cert`/`key` when the master requires
 * client certificates; plaintext otherwise. Unreadable files are usage errors.
 */
export function masterTls(files: MasterTlsFiles): ClientTls | undefined {
  if ((files.cert === undefined) !== (files.key === undefined)) {
    throw new UsageError('--tls-cert and --tls-key (CLOUDAI_TLS_CERT, CLOUDAI_TLS_KEY) go together: give both or neither');
  }
  if (files.ca === undefined) {
    if (files.cert !== undefined) {
      throw new UsageError('--tls-cert needs --tls-ca (CLOUDAI_TLS_CA): a client certificate is only sent over TLS');
    }
    return undefined;
  }
  return {
    ca: read('--tls-ca', files.ca),
    cert: files.cert === undefined ? undefined : read('--tls-cert', files.cert),
    key: files.key === undefined ? undefined : read('--tls-key', files.key),
  };
}

function read(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${JSON.stringify(path)}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
