import { hasControlChars, ID_PATTERN, ID_RULE, userNameSchema, WORKER_ID_PATTERN, WORKER_ID_RULE } from '@cloudai/domain';
import { invalidArgument } from '@cloudai/rpc';

// Checks of request fields that several of the master's services take,
// each refusing with INVALID_ARGUMENT naming the field as the caller sent it.

/** A task or assignment id. */
export function idField(value: string, field: string): string {
  if (!value) throw invalidArgument(`${field} is required`);
  if (!ID_PATTERN.test(value)) throw invalidArgument(`${field} must be ${ID_RULE}`);
  return value;
}

export function workerIdField(value: string, field = 'worker_id'): string {
  if (!WORKER_ID_PATTERN.test(value)) throw invalidArgument(`${field} must be ${WORKER_ID_RULE}`);
  return value;
}

export function userNameField(value: string, field = 'user_name'): string {
  const parsed = userNameSchema(field).safeParse(value);
  if (!parsed.success) throw invalidArgument(parsed.error.issues[0]?.message ?? `${field} is invalid`);
  return value;
}

/** Short text a person typed (a reason, a description): shown back in terminals, so no control characters. */
export function typedText(value: string, field: string, maxChars: number): string {
  if (value.length > maxChars) throw invalidArgument(`${field} must be at most ${maxChars} characters`);
  if (hasControlChars(value)) throw invalidArgument(`${field} must not contain control characters`);
  return value;
}
