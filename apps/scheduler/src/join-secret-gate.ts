import { bearerFrom, joinSecretMatches } from '@cloudai/auth';
import { unauthenticated } from '@cloudai/rpc';
import type { CallContext } from 'nice-grpc';

/**
 * For the scheduler's server `authenticate`: its only API beyond health
 * (which stays open) is reflection, and that takes the credential the
 * scheduler itself holds, the cluster's join secret.
 */
export function joinSecretGate(secret: () => string | undefined) {
  return async (method: string, context: CallContext): Promise<object> => {
    const presented = bearerFrom(context.metadata.getAll('authorization'));
    if (!presented.ok) {
      throw unauthenticated(`${method} needs the cluster's join secret (authorization: Bearer …): ${presented.message}`);
    }
    const expected = secret();
    if (expected === undefined || !joinSecretMatches(presented.token, expected)) throw unauthenticated('wrong join secret');
    return {};
  };
}
