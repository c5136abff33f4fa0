import { WORKER_ID_PATTERN, WORKER_ID_RULE } from '@cloudai/domain';
import { z } from 'zod';
import type { SigningKey, VerifyingKey } from './signing-key.js';
import {
  epochSeconds,
  type IssueOptions,
  issueToken,
  type TokenKind,
  type Verified,
  type VerifyOptions,
  verifyToken,
} from './signed-token.js';

/** What a worker gets from RegisterWorker: proof, on every later call, of which worker it is. */
export interface WorkerCredentialClaims {
  typ: 'worker';
  /** the worker id the credential is bound to */
  sub: string;
  iat: number;
  exp?: number;
}

export const WORKER_CREDENTIAL: TokenKind<WorkerCredentialClaims> = {
  name: 'worker credential',
  prefix: 'caw',
  typ: 'worker',
  claims: z.object({
    typ: z.literal('worker'),
    sub: z.string().regex(WORKER_ID_PATTERN, { error: `must be a worker id: ${WORKER_ID_RULE}` }),
    iat: epochSeconds,
    exp: epochSeconds.optional(),
  }),
};

/** A `caw_` credential for `workerId`; without `ttlSeconds` it does not expire. */
export function issueWorkerCredential(key: SigningKey, workerId: string, options?: IssueOptions): string {
  return issueToken(key, WORKER_CREDENTIAL, { sub: workerId }, options);
}

export function verifyWorkerCredential(
  token: string,
  key: VerifyingKey,
  options?: VerifyOptions,
): Verified<WorkerCredentialClaims> {
  return verifyToken(token, key, WORKER_CREDENTIAL, options);
}
