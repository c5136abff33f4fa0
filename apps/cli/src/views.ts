import { type UserRole } from '@cloudai/domain';
import { type TokenInfo, type User } from '@cloudai/proto';
import { isoTime, roleName } from '@cloudai/rpc/client';

// The stable JSON shapes `--json` prints. Tasks, workers and events are
// made in @cloudai/rpc/client, which the web app's HTTP API shares; users and
// tokens only the CLI prints.
export {
  roleName,
  taskJson,
  taskStatus,
  workerJson,
  workerState,
  type TaskJson,
  type WorkerJson,
} from '@cloudai/rpc/client';

export interface UserJson {
  user: string;
  role: UserRole | 'UNKNOWN';
  disabled: boolean;
  createdAt: string | null;
}

/** A token as listed: never its secret, which the master does not keep. */
export interface TokenJson {
  tokenId: string;
  user: string;
  description: string;
  createdAt: string | null;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export function userJson(user: User): UserJson {
  return { user: user.userName, role: roleName(user.role), disabled: user.disabled, createdAt: isoTime(user.createdAt) };
}

export function tokenJson(token: TokenInfo): TokenJson {
  return {
    tokenId: token.tokenId,
    user: token.userName,
    description: token.description,
    createdAt: isoTime(token.createdAt),
    expiresAt: isoTime(token.expiresAt),
    lastUsedAt: isoTime(token.lastUsedAt),
    revokedAt: isoTime(token.revokedAt),
  };
}

/** Prints one JSON document on its own line. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
