import { unauthenticated } from '@cloudai/rpc';
import type { CallContext } from 'nice-grpc';

const USER_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

/**
 * The user a CLI call acts for, from the `x-cloudai-user` metadata.
 * Bearer tokens mapped to users replace this in the security issue; until
 * then the master trusts the name but still validates it, because it ends
 * up in storage paths.
 */
export function callerOf(context: CallContext): string {
  const user = context.metadata.get('x-cloudai-user');
  if (user === undefined || user === '') return 'default';
  if (typeof user !== 'string' || !USER_RE.test(user)) {
    throw unauthenticated('x-cloudai-user must be 1-128 characters of letters, digits, ".", "_", "@", "+" or "-"');
  }
  return user;
}
