import type { AuthContext, UserPrincipal, WorkerPrincipal } from './auth/principal.js';

/**
 * The user a task-API call acts for. The authentication middleware already
 * refused every other kind of caller on these APIs; this only narrows the type.
 */
export function userOf(context: AuthContext): UserPrincipal {
  const p = context.principal;
  if (p.kind !== 'user') throw new Error(`expected a user principal, got ${p.kind}`);
  return p;
}

/** The worker a cluster-API call comes from (see userOf). */
export function workerOf(context: AuthContext): WorkerPrincipal {
  const p = context.principal;
  if (p.kind !== 'worker') throw new Error(`expected a worker principal, got ${p.kind}`);
  return p;
}
