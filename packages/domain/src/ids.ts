import { z } from 'zod';
import { hasControlChars, quoted } from './text.js';

// Identifiers that cross apps. Each rule is declared once, as a zod schema
// whose messages name the field the caller says it came from ("worker_id",
// "--name", "WORKER_ID"), so the CLI, the master and the worker accept and
// refuse exactly the same values.

/** Worker ids end up in container labels, log lines and store keys. */
export const WORKER_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const WORKER_ID_RULE = '1-64 characters of letters, digits, ".", "_" or "-"';

export const workerIdSchema = (field: string) =>
  z.string().regex(WORKER_ID_PATTERN, { error: `${field} must be ${WORKER_ID_RULE}` });

/**
 * Task and assignment ids as callers quote them. The master makes UUIDv7s;
 * any id a caller sends must also be safe where ids end up: container names
 * and labels (which start with a letter or digit), log lines, store keys.
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const ID_RULE = '1-128 letters, digits or "._-" characters, starting with a letter or digit';

/** User names end up in storage paths and gRPC metadata: printable ASCII, not starting with punctuation. */
export const USER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
export const USER_NAME_RULE = '1-128 letters, digits or "._@+-" characters, starting with a letter or digit';

export const userNameSchema = (field: string) =>
  z.string().regex(USER_NAME_PATTERN, {
    error: (iss) => `${field} must be ${USER_NAME_RULE}, got ${quoted(String(iss.input))}`,
  });

/**
 * An idempotency key: a resubmission with the same key (by the same user)
 * answers with the task the first one made. Typed on command lines and
 * stored in a unique index, so printable ASCII without spaces.
 */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;
export const IDEMPOTENCY_KEY_RULE = '1-128 printable ASCII characters without spaces';

export const idempotencyKeySchema = (field: string) =>
  z.string().regex(IDEMPOTENCY_KEY_PATTERN, {
    error: (iss) => `${field} must be ${IDEMPOTENCY_KEY_RULE}, got ${JSON.stringify(iss.input)}`,
  });

export const MAX_TASK_NAME_LENGTH = 200;

/**
 * A task name as typed. Empty means "let the master name it"; path-like
 * names such as "../x" are kept as typed (storage sanitizes names for its
 * paths). TAB is allowed; other control characters are not.
 */
export const taskNameSchema = (field: string) =>
  z
    .string()
    .max(MAX_TASK_NAME_LENGTH, { error: `${field} must be at most ${MAX_TASK_NAME_LENGTH} characters` })
    .refine((s) => !hasControlChars(s), { error: `${field} must not contain control characters` })
    .refine((s) => s.trim() === s, { error: `${field} must not start or end with whitespace` });

/** What a user may do: an admin acts on every user's tasks and manages users and tokens. */
export const USER_ROLES = ['admin', 'user'] as const;
export type UserRole = (typeof USER_ROLES)[number];
