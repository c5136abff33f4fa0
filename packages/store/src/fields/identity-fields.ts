import type { UserRole } from '@cloudai/domain';
import { bool, date, nullable, text, textOf } from './codecs.js';
import { field } from './field.js';

/** USERS: who may call the task API. Adding a field: as for TASK_FIELDS. */
export const USER_FIELDS = {
  userName: field('user_name', text),
  role: field('role', textOf<UserRole>()),
  /** a disabled user's tokens stop working; their tasks stay */
  disabled: field('disabled', bool, { default: false }),
  createdAt: field('created_at', date),
};

/**
 * TOKENS: API tokens by their public id. Only the SHA-256 of the secret is
 * kept: the token itself is shown once, when it is made.
 */
export const TOKEN_FIELDS = {
  tokenId: field('token_id', text),
  userName: field('user_name', text),
  /** lowercase hex */
  secretSha256: field('secret_sha256', text),
  description: field('description', text, { default: '' }),
  createdAt: field('created_at', date),
  /** null: never expires */
  expiresAt: field('expires_at', nullable(date)),
  lastUsedAt: field('last_used_at', nullable(date)),
  revokedAt: field('revoked_at', nullable(date)),
};
