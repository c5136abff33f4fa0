import type { UserRole } from '@cloudai/domain';
import { API_TOKEN_ID_LENGTH, isApiTokenId, newApiToken } from '@cloudai/auth';
import type { Logger } from '@cloudai/logger';
import { DomainError, failedPrecondition, invalidArgument, notFound } from '@cloudai/rpc';
import type { IdentityStore, TokenRecord, UserRecord } from '@cloudai/store';
import { Status } from 'nice-grpc';
import type { Authenticator } from './auth/authenticator.js';
import type { UserPrincipal } from './auth/principal.js';
import { typedText, userNameField } from './request-fields.js';
import type { EventSink } from './event-sink.js';

/** Longest a token may live when it expires at all: ten years. */
const MAX_TOKEN_LIFETIME_S = 10 * 365 * 86_400;
const MAX_DESCRIPTION = 200;

/** A token as made: its record, and the whole token, which is shown once and never stored. */
export interface IssuedToken {
  token: TokenRecord;
  secretToken: string;
}

/**
 * Users and their API tokens: who may act, and on whose behalf. Admin-only
 * operations are refused here with PERMISSION_DENIED, whoever calls them.
 */
export class UserDirectory {
  constructor(
    private readonly store: IdentityStore,
    private readonly auth: Authenticator,
    private readonly events: EventSink,
    private readonly log: Logger,
  ) {}

  /**
   * On a store with no users, creates `admin` with one token, handing the
   * token to `save` before anything is stored: a crash part-way leaves no
   * users, so the next start makes a new token instead of an admin nobody
   * can act as. Returns the token, or undefined when there were users.
   */
  async bootstrap(save: (secretToken: string) => Promise<void>): Promise<TokenRecord | undefined> {
    if ((await this.store.countUsers()) > 0) return undefined;
    const made = newApiToken();
    await save(made.token);
    const token = tokenRecord(made, 'admin', 'bootstrap', null);
    await this.store.createToken(token);
    await this.store.createUser({ userName: 'admin', role: 'admin', disabled: false, createdAt: new Date() });
    this.events.record({ kind: 'user.created', userId: 'admin', message: 'user admin created (role admin)', reason: 'bootstrap' });
    this.recordToken('token.created', null, token, 'bootstrap');
    return token;
  }

  async get(userName: string): Promise<UserRecord> {
    const user = await this.store.getUser(userName);
    if (!user) throw notFound(`user ${userName} does not exist`);
    return user;
  }

  async create(caller: UserPrincipal, userName: string, role: UserRole): Promise<{ user: UserRecord } & IssuedToken> {
    requireAdmin(caller, 'create users');
    userNameField(userName);
    const { user, created } = await this.store.createUser({ userName, role, disabled: false, createdAt: new Date() });
    if (!created) throw new DomainError(Status.ALREADY_EXISTS, `user ${userName} already exists`);
    this.log.info({ by: caller.userName, userName, role }, 'user created');
    this.events.record({ kind: 'user.created', userId: userName, actor: caller.userName, message: `user ${userName} created (role ${role})` });
    const issued = await this.issue(userName, 'first token', null);
    this.recordToken('token.created', caller.userName, issued.token);
    return { user, ...issued };
  }

  async list(caller: UserPrincipal): Promise<UserRecord[]> {
    requireAdmin(caller, 'list users');
    return this.store.listUsers();
  }

  async setDisabled(caller: UserPrincipal, userName: string, disabled: boolean): Promise<UserRecord> {
    requireAdmin(caller, disabled ? 'disable users' : 'enable users');
    userNameField(userName);
    if (disabled && userName === caller.userName) throw failedPrecondition('an admin cannot disable themselves');
    const user = await this.store.setUserDisabled(userName, disabled);
    if (!user) throw notFound(`user ${userName} does not exist`);
    // Every token of theirs is cached by id; forgetting them all is simplest.
    this.auth.forget();
    this.log.info({ by: caller.userName, userName, disabled }, disabled ? 'user disabled' : 'user enabled');
    this.events.record({
      kind: disabled ? 'user.disabled' : 'user.enabled',
      userId: userName,
      actor: caller.userName,
      message: `user ${userName} ${disabled ? 'disabled' : 'enabled'}`,
    });
    return user;
  }

  /** A new token for the caller, or (admins) for `userName`. */
  async createToken(caller: UserPrincipal, userName: string, description: string, expiresInSeconds: number): Promise<IssuedToken> {
    const owner = userName ? userNameField(userName) : caller.userName;
    if (owner !== caller.userName) requireAdmin(caller, "create other users' tokens");
    typedText(description, 'description', MAX_DESCRIPTION);
    if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 0 || expiresInSeconds > MAX_TOKEN_LIFETIME_S) {
      throw invalidArgument(`expires_in_seconds must be 0 (never) to ${MAX_TOKEN_LIFETIME_S}`);
    }
    const user = await this.get(owner);
    const expiresAt = expiresInSeconds > 0 ? new Date(Date.now() + expiresInSeconds * 1000) : null;
    const issued = await this.issue(user.userName, description, expiresAt);
    this.log.info({ by: caller.userName, userName: owner, tokenId: issued.token.tokenId, expiresAt }, 'token created');
    this.recordToken('token.created', caller.userName, issued.token);
    return issued;
  }

  /** The caller's tokens; admins may ask for another user's or everyone's. */
  async listTokens(caller: UserPrincipal, userName: string, allUsers: boolean): Promise<TokenRecord[]> {
    if (userName) userNameField(userName);
    if (allUsers || (userName && userName !== caller.userName)) requireAdmin(caller, "list other users' tokens");
    return this.store.listTokens(allUsers ? undefined : userName || caller.userName);
  }

  /** Revokes one of the caller's tokens, or (admins) anyone's; another user's token answers as a missing one. */
  async revokeToken(caller: UserPrincipal, tokenId: string): Promise<TokenRecord> {
    if (!tokenId) throw invalidArgument('token_id is required');
    if (!isApiTokenId(tokenId)) {
      throw invalidArgument(`token_id must be the ${API_TOKEN_ID_LENGTH} characters of a-z and 2-7 that tokens list shows`);
    }
    const token = await this.store.getToken(tokenId);
    if (!token || (token.userName !== caller.userName && caller.role !== 'admin')) {
      throw notFound(`token ${tokenId} not found`);
    }
    const revoked = await this.store.revokeToken(tokenId, new Date());
    this.auth.forget(tokenId);
    this.log.info({ by: caller.userName, tokenId, userName: token.userName }, 'token revoked');
    this.recordToken('token.revoked', caller.userName, token);
    return revoked ?? token;
  }

  /** A token's id is public; its secret never reaches an event. */
  private recordToken(kind: 'token.created' | 'token.revoked', actor: string | null, token: TokenRecord, reason = ''): void {
    const what = kind === 'token.created' ? 'created' : 'revoked';
    this.events.record({ kind, userId: token.userName, actor, message: `token ${token.tokenId} of ${token.userName} ${what}`, reason });
  }

  private async issue(userName: string, description: string, expiresAt: Date | null): Promise<IssuedToken> {
    const made = newApiToken();
    const token = tokenRecord(made, userName, description, expiresAt);
    await this.store.createToken(token);
    return { token, secretToken: made.token };
  }
}

function tokenRecord(
  made: { tokenId: string; secretSha256: string },
  userName: string,
  description: string,
  expiresAt: Date | null,
): TokenRecord {
  return {
    tokenId: made.tokenId,
    userName,
    secretSha256: made.secretSha256,
    description,
    createdAt: new Date(),
    expiresAt,
    lastUsedAt: null,
    revokedAt: null,
  };
}

function requireAdmin(caller: UserPrincipal, what: string): void {
  if (caller.role !== 'admin') throw new DomainError(Status.PERMISSION_DENIED, `only admins may ${what}`);
}
