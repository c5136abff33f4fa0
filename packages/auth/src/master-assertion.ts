import { WORKER_ID_PATTERN } from '@cloudai/domain';
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

/**
 * Who a master assertion is for: storage, or one worker. A worker accepts
 * only assertions naming itself, so one stolen from a call to another
 * worker (or to storage) opens nothing else.
 */
export type MasterAudience = 'storage' | `worker:${string}`;

/** What the master sends with its own calls to storage and to workers. */
export interface MasterAssertionClaims {
  typ: 'master';
  aud: MasterAudience;
  iat: number;
  exp: number;
}

/** Long enough to reuse one assertion for many calls, short enough that a leaked one soon stops working. */
export const MASTER_ASSERTION_TTL_SECONDS = 600;

const audience = z.union([
  z.literal('storage'),
  z.templateLiteral(['worker:', z.string().regex(WORKER_ID_PATTERN)]),
]);

export const MASTER_ASSERTION: TokenKind<MasterAssertionClaims> = {
  name: 'master assertion',
  prefix: 'cam',
  typ: 'master',
  claims: z.object({
    typ: z.literal('master'),
    aud: audience,
    iat: epochSeconds,
    exp: epochSeconds,
  }),
};

export function workerAudience(workerId: string): MasterAudience {
  return `worker:${workerId}`;
}

/** A `cam_` assertion for `audience`, valid MASTER_ASSERTION_TTL_SECONDS unless `ttlSeconds` says otherwise. */
export function issueMasterAssertion(key: SigningKey, audience: MasterAudience, options: IssueOptions = {}): string {
  const ttlSeconds = options.ttlSeconds ?? MASTER_ASSERTION_TTL_SECONDS;
  return issueToken(key, MASTER_ASSERTION, { aud: audience }, { ...options, ttlSeconds });
}

/** Verifies a master assertion and that it names `audience`: the verifier itself. */
export function verifyMasterAssertion(
  token: string,
  key: VerifyingKey,
  audience: MasterAudience,
  options?: VerifyOptions,
): Verified<MasterAssertionClaims> {
  const verified = verifyToken(token, key, MASTER_ASSERTION, options);
  if (verified.ok && verified.claims.aud !== audience) {
    return {
      ok: false,
      reason: 'wrong audience',
      message: `wrong audience: the master assertion is for ${verified.claims.aud}, not ${audience}`,
    };
  }
  return verified;
}
