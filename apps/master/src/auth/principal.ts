import type { UserRole } from '@cloudai/domain';

/**
 * Who is calling, as proved by the call's credential:
 * - a user, by an API token (the task and identity APIs);
 * - a worker, by the credential the master issued it at registration,
 *   bound to its worker id (the cluster API);
 * - a cluster member, by the cluster's join secret (registering a worker,
 *   and the scheduler API).
 */
export type Principal =
  | { kind: 'user'; userName: string; role: UserRole; tokenId: string }
  | { kind: 'worker'; workerId: string }
  | { kind: 'cluster' };

export type UserPrincipal = Extract<Principal, { kind: 'user' }>;
export type WorkerPrincipal = Extract<Principal, { kind: 'worker' }>;

/** What the master's authentication adds to every handler's context. */
export interface AuthContext {
  principal: Principal;
}
