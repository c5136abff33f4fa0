import { Role, type IdentityServiceImplementation, type TokenInfo, type User } from '@cloudai/proto';
import type { TokenRecord, UserRecord } from '@cloudai/store';
import type { UserRole } from '@cloudai/domain';
import { invalidArgument } from '@cloudai/rpc';
import type { AuthContext } from './auth/principal.js';
import { userOf } from './caller.js';
import type { UserDirectory } from './users.js';

const ROLE_TO_PROTO: Record<UserRole, Role> = { admin: Role.ROLE_ADMIN, user: Role.ROLE_USER };
/** The contract: an unset role means ROLE_USER. */
const ROLE_FROM_PROTO: Partial<Record<Role, UserRole>> = {
  [Role.ROLE_UNSPECIFIED]: 'user',
  [Role.ROLE_USER]: 'user',
  [Role.ROLE_ADMIN]: 'admin',
};

function userToProto(u: UserRecord): User {
  return { userName: u.userName, role: ROLE_TO_PROTO[u.role], disabled: u.disabled, createdAt: u.createdAt };
}

function tokenToProto(t: TokenRecord): TokenInfo {
  return {
    tokenId: t.tokenId,
    userName: t.userName,
    description: t.description,
    createdAt: t.createdAt,
    expiresAt: t.expiresAt ?? undefined,
    lastUsedAt: t.lastUsedAt ?? undefined,
    revokedAt: t.revokedAt ?? undefined,
  };
}

/** Users and tokens, for the CLI's login, whoami, users and tokens commands; and the master's version. */
export function identityService(users: UserDirectory, version: string): IdentityServiceImplementation<AuthContext> {
  return {
    async whoAmI(_req, context) {
      const caller = userOf(context);
      return { user: userToProto(await users.get(caller.userName)), tokenId: caller.tokenId };
    },
    async createUser(req, context) {
      const role = ROLE_FROM_PROTO[req.role];
      if (!role) throw invalidArgument('role must be ROLE_USER or ROLE_ADMIN (unset: ROLE_USER)');
      const created = await users.create(userOf(context), req.userName, role);
      return { user: userToProto(created.user), token: tokenToProto(created.token), secretToken: created.secretToken };
    },
    async listUsers(_req, context) {
      return { users: (await users.list(userOf(context))).map(userToProto) };
    },
    async setUserDisabled(req, context) {
      return { user: userToProto(await users.setDisabled(userOf(context), req.userName, req.disabled)) };
    },
    async createToken(req, context) {
      const issued = await users.createToken(userOf(context), req.userName, req.description, req.expiresInSeconds);
      return { token: tokenToProto(issued.token), secretToken: issued.secretToken };
    },
    async listTokens(req, context) {
      return { tokens: (await users.listTokens(userOf(context), req.userName, req.allUsers)).map(tokenToProto) };
    },
    async revokeToken(req, context) {
      return { token: tokenToProto(await users.revokeToken(userOf(context), req.tokenId)) };
    },
    // Any user: the authentication middleware already refused everyone else.
    async getVersion() {
      return { version };
    },
  };
}
