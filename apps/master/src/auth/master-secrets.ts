import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  loadOrCreateSecret,
  loadOrCreateSigningKey,
  newJoinSecret,
  readSecret,
  type SigningKey,
} from '@cloudai/auth';

export interface MasterSecretsConfig {
  /** `<CLOUDAI_DATA_DIR>/master` */
  dir: string;
  /** CLOUDAI_SIGNING_KEY_FILE: the key to sign with; several masters over one store must share it */
  signingKeyFile: string | undefined;
  /** CLOUDAI_JOIN_TOKEN / CLOUDAI_JOIN_TOKEN_FILE: the cluster's join secret, if not generated */
  joinToken: string | undefined;
  joinTokenFile: string | undefined;
}

export interface MasterSecrets {
  /** signs worker credentials, upload grants and the master's own assertions to workers and storage */
  signingKey: SigningKey;
  /** where the public half is written, for storage (CLOUDAI_MASTER_PUBLIC_KEY_FILE) */
  publicKeyFile: string;
  joinSecret: string;
  /** where the join secret is, when the master generated it */
  joinTokenFile: string | undefined;
}

/**
 * The master's secrets, made on its first start and kept in its data folder
 * (mode 0600), unless the operator supplies them.
 */
export async function loadMasterSecrets(config: MasterSecretsConfig): Promise<MasterSecrets> {
  const { value: signingKey } = await loadOrCreateSigningKey(config.signingKeyFile ?? join(config.dir, 'signing-key.pem'));
  const publicKeyFile = join(config.dir, 'signing-key.pub');
  await writeFile(publicKeyFile, signingKey.publicKeyPem());
  await chmod(publicKeyFile, 0o644);
  if (config.joinToken !== undefined || config.joinTokenFile !== undefined) {
    const joinSecret = await readSecret({ value: config.joinToken, file: config.joinTokenFile }, 'CLOUDAI_JOIN_TOKEN');
    return { signingKey, publicKeyFile, joinSecret, joinTokenFile: config.joinTokenFile };
  }
  const joinTokenFile = join(config.dir, 'join-token');
  const { value: joinSecret } = await loadOrCreateSecret(joinTokenFile, newJoinSecret);
  return { signingKey, publicKeyFile, joinSecret, joinTokenFile };
}
