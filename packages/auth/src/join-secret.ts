import { randomBytes } from 'node:crypto';
import { secretsEqual } from './digest.js';

export const JOIN_SECRET_PREFIX = 'caj_';

/** The cluster join secret workers and schedulers present: `caj_` and 256 random bits, base64url. */
export function newJoinSecret(): string {
  return `${JOIN_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** Whether a presented join secret is the cluster's, in time that tells nothing about either. */
export function joinSecretMatches(presented: string, expected: string): boolean {
  return secretsEqual(presented, expected);
}
