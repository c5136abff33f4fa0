import { USER_NAME_PATTERN, USER_NAME_RULE } from '@cloudai/domain';
import { unauthenticated } from '@cloudai/rpc';
import type { CallContext } from 'nice-grpc';

/**
 * The user a CLI call acts for, from the `x-cloudai-user` metadata.
 * Bearer tokens mapped to users replace this in the security issue; until
 * then the master trusts the name but still validates it, because it ends
 * up in storage paths.
 */
export function callerOf(context: CallContext): string {
  const user = context.metadata.get('x-cloudai-user');
  if (user === undefined || user === '') return 'default';
  if (typeof user !== 'string' || !USER_NAME_PATTERN.test(user)) {
    throw unauthenticated(`x-cloudai-user must be ${USER_NAME_RULE}`);
  }
  return user;
}
