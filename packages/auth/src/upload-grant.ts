import { hasControlChars, MAX_TASK_NAME_LENGTH, USER_NAME_PATTERN, USER_NAME_RULE } from '@cloudai/domain';
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

/** Where one assignment's outputs go; storage takes these from the grant, never from the request. */
export interface UploadGrantFields {
  taskId: string;
  assignmentId: string;
  userId: string;
  taskName: string;
  /** milliseconds since the epoch, as the task records it */
  submittedAt: number;
}

/** The master's permission for one assignment's outputs to be uploaded to storage. */
export interface UploadGrantClaims extends UploadGrantFields {
  typ: 'grant';
  iat: number;
  exp: number;
}

/** Non-empty text of at most `max` characters, none of them control characters (these end up in paths and logs). */
const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => !hasControlChars(s), { error: 'must not contain control characters' });

const id = text(128);

export const UPLOAD_GRANT: TokenKind<UploadGrantClaims> = {
  name: 'upload grant',
  prefix: 'cag',
  typ: 'grant',
  claims: z.object({
    typ: z.literal('grant'),
    taskId: id,
    assignmentId: id,
    userId: z.string().regex(USER_NAME_PATTERN, { error: `must be ${USER_NAME_RULE}` }),
    taskName: text(MAX_TASK_NAME_LENGTH),
    submittedAt: z.int().min(0),
    iat: epochSeconds,
    exp: epochSeconds,
  }),
};

/**
 * A `cag_` grant for one assignment's upload. `ttlSeconds` is required: the
 * upload comes only after the task has run, so how long is the issuer's call.
 */
export function issueUploadGrant(
  key: SigningKey,
  grant: UploadGrantFields,
  options: IssueOptions & { ttlSeconds: number },
): string {
  const { taskId, assignmentId, userId, taskName, submittedAt } = grant;
  return issueToken(key, UPLOAD_GRANT, { taskId, assignmentId, userId, taskName, submittedAt }, options);
}

export function verifyUploadGrant(
  token: string,
  key: VerifyingKey,
  options?: VerifyOptions,
): Verified<UploadGrantClaims> {
  return verifyToken(token, key, UPLOAD_GRANT, options);
}
