import {
  bearerFrom,
  joinSecretMatches,
  parseApiToken,
  secretMatches,
  TtlCache,
  verifyWorkerCredential,
  type VerifyingKey,
} from '@cloudai/auth';
import type { Logger } from '@cloudai/logger';
import { DomainError, unauthenticated } from '@cloudai/rpc';
import type { IdentityStore, TokenRecord, UserRecord } from '@cloudai/store';
import { Status, type CallContext } from 'nice-grpc';
import type { AuthContext, Principal } from './principal.js';

/** How long a verified token is trusted without asking the store again: the most a revocation waits. */
export const TOKEN_CACHE_MS = 3_000;
/** What an unknown token id is compared against, so it costs what a wrong secret does. */
const NO_SUCH_TOKEN = '0'.repeat(64);
/** last_used_at is written at most this often per token. */
const TOUCH_EVERY_MS = 60_000;

interface Requirement {
  prefix: string;
  /** 'any': whoever presents a valid credential of any kind */
  kind: Principal['kind'] | 'any';
  /** what to present, for the refusal message */
  needs: string;
}

/** Which principal each API takes; the first matching prefix wins. */
const REQUIREMENTS: readonly Requirement[] = [
  { prefix: '/cloudai.v1.TaskService/', kind: 'user', needs: "a user's API token" },
  { prefix: '/cloudai.v1.IdentityService/', kind: 'user', needs: "a user's API token" },
  { prefix: '/cloudai.v1.EventService/', kind: 'user', needs: "a user's API token" },
  { prefix: '/cloudai.v1.ClusterService/RegisterWorker', kind: 'cluster', needs: "the cluster's join secret" },
  { prefix: '/cloudai.v1.ClusterService/', kind: 'worker', needs: 'a worker credential (from RegisterWorker)' },
  { prefix: '/cloudai.v1.SchedulerService/', kind: 'cluster', needs: "the cluster's join secret" },
  // The API's shape, not its data: for grpcurl and grpcui in any principal's hands.
  { prefix: '/grpc.reflection.', kind: 'any', needs: 'a cloudai credential (an API token, worker credential or join secret)' },
];

const KIND_NAMES: Record<Principal['kind'], string> = {
  user: "a user's API token",
  worker: 'a worker credential',
  cluster: "the cluster's join secret",
};

interface VerifiedToken {
  token: TokenRecord;
  user: UserRecord;
}

/**
 * Turns a call's `authorization` metadata into a Principal, or refuses the
 * call naming what is wrong (no credential, malformed, wrong, revoked,
 * expired, disabled user, or the wrong kind of credential for this API).
 */
export class Authenticator {
  private readonly tokens = new TtlCache<string, VerifiedToken>({ ttlMs: TOKEN_CACHE_MS, maxEntries: 10_000 });
  /** credential text → worker id, for credentials whose signature already checked out */
  private readonly workerCredentials = new TtlCache<string, string>({ ttlMs: 60_000, maxEntries: 10_000 });
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly store: IdentityStore,
    private readonly masterKey: VerifyingKey,
    private readonly joinSecret: string,
    private readonly log: Logger,
  ) {}

  /** For startGrpcServer's `authenticate`: the principal, added to the handlers' context. */
  authenticate = async (method: string, context: CallContext): Promise<AuthContext> => {
    const requirement = REQUIREMENTS.find((r) => method.startsWith(r.prefix));
    if (!requirement) throw new DomainError(Status.PERMISSION_DENIED, `${method} is not open to any caller`);
    const presented = bearerFrom(context.metadata.getAll('authorization'));
    if (!presented.ok) {
      if (presented.reason === 'missing') {
        throw unauthenticated(`no credential: ${method} needs ${requirement.needs} (authorization: Bearer …)`);
      }
      throw unauthenticated(`malformed credential: ${presented.message}`);
    }
    const principal = await this.identify(presented.token);
    if (requirement.kind !== 'any' && principal.kind !== requirement.kind) {
      throw new DomainError(
        Status.PERMISSION_DENIED,
        `${KIND_NAMES[principal.kind]} cannot call ${method}: it needs ${requirement.needs}`,
      );
    }
    return { principal };
  };

  /** Forgets what is cached about a token (revoked, or its user disabled) so this master acts on it at once. */
  forget(tokenId?: string): void {
    if (tokenId === undefined) this.tokens.clear();
    else this.tokens.delete(tokenId);
  }

  private async identify(presented: string): Promise<Principal> {
    if (presented.startsWith('cai_')) return this.user(presented);
    if (presented.startsWith('caw_')) {
      // Verifying a signature costs about a third of a millisecond; a
      // worker sends the same credential with every report and log batch.
      const known = this.workerCredentials.get(presented);
      if (known) return { kind: 'worker', workerId: known };
      const verified = verifyWorkerCredential(presented, this.masterKey);
      if (!verified.ok) throw unauthenticated(`worker credential refused: ${verified.message}`);
      this.workerCredentials.set(presented, verified.claims.sub);
      return { kind: 'worker', workerId: verified.claims.sub };
    }
    if (presented.startsWith('caj_')) {
      if (!joinSecretMatches(presented, this.joinSecret)) throw unauthenticated('wrong join secret');
      return { kind: 'cluster' };
    }
    throw unauthenticated('malformed credential: not a cloudai token (cai_…), worker credential or join secret');
  }

  private async user(presented: string): Promise<Principal> {
    const parsed = parseApiToken(presented);
    if (!parsed.ok) throw unauthenticated(`malformed token: ${parsed.message}`);
    let verified = this.tokens.get(parsed.tokenId);
    if (!verified) {
      const token = await this.store.getToken(parsed.tokenId);
      const user = token ? await this.store.getUser(token.userName) : null;
      // Unknown id and wrong secret answer alike, after the same hash
      // comparison: the id alone proves nothing.
      const matches = secretMatches(parsed.secret, token?.secretSha256 ?? NO_SUCH_TOKEN);
      if (!token || !user || !matches) throw unauthenticated('wrong token');
      verified = { token, user };
      this.tokens.set(parsed.tokenId, verified);
    } else if (!secretMatches(parsed.secret, verified.token.secretSha256)) {
      throw unauthenticated('wrong token');
    }
    const { token, user } = verified;
    const now = Date.now();
    if (token.revokedAt) throw unauthenticated(`token ${token.tokenId} was revoked`);
    if (token.expiresAt && token.expiresAt.getTime() <= now) throw unauthenticated(`token ${token.tokenId} expired`);
    if (user.disabled) throw unauthenticated(`user ${user.userName} is disabled`);
    this.touch(token.tokenId, now);
    return { kind: 'user', userName: user.userName, role: user.role, tokenId: token.tokenId };
  }

  /** Records last use now and then, in the background: a failed write must not fail the call. */
  private touch(tokenId: string, now: number): void {
    const last = this.touched.get(tokenId);
    if (last !== undefined && now - last < TOUCH_EVERY_MS) return;
    this.touched.set(tokenId, now);
    if (this.touched.size > 100_000) this.touched.clear();
    this.store.touchToken(tokenId, new Date(now)).catch((err: unknown) => {
      this.log.debug({ err, tokenId }, 'could not record when a token was used');
    });
  }
}
