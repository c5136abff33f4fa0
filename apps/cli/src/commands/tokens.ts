import type { TokenInfo } from '@cloudai/proto';
import type { Command } from 'commander';
import { withIdentity } from '../client.js';
import { contextOf, print } from '../context.js';
import { clean, formatKeyValues, formatTable, formatTimestamp } from '../format.js';
import { parseOptions, TokensCreateOptions, TokensListOptions } from '../options.js';
import { SHOWN_ONCE } from '../render.js';
import { tokenIdSchema } from '../token-format.js';
import { printJson, tokenJson } from '../views.js';

function answered(token: TokenInfo | undefined): TokenInfo {
  if (!token) throw new Error('the master answered without a token');
  return token;
}

function tokenState(token: TokenInfo, now: Date): string {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt && token.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'active';
}

export function registerTokens(program: Command): void {
  const tokens = program.command('tokens').description('create, list and revoke API tokens');

  tokens
    .command('create')
    .description('create a token for yourself, or (admins) for --user; it is shown once')
    .option('--user <name>', 'whose token (admins only; default: yours)')
    .option('--expires <duration>', 'lifetime, like 90m, 12h or 30d (default: never expires)')
    .option('--description <text>', 'what the token is for, shown by `tokens list`')
    .option('--json', 'print {"tokenId","user","description","expiresAt","token"} as JSON')
    .action(async (raw: Record<string, unknown>, self: Command) => {
      const opts = parseOptions(TokensCreateOptions, raw);
      const ctx = contextOf(self);
      const res = await withIdentity(ctx.connection, (identity) =>
        identity.createToken({
          userName: opts.user ?? '',
          description: opts.description ?? '',
          expiresInSeconds: opts.expires ?? 0,
        }),
      );
      const info = tokenJson(answered(res.token));
      if (res.secretToken === '') throw new Error('the master answered without a token');
      if (opts.json) {
        printJson({ tokenId: info.tokenId, user: info.user, description: info.description, expiresAt: info.expiresAt, token: res.secretToken });
        return;
      }
      print(
        formatKeyValues([
          ['Token ID', clean(info.tokenId)],
          ['User', clean(info.user)],
          ['Description', clean(info.description) || '-'],
          ['Expires', res.token?.expiresAt ? formatTimestamp(res.token.expiresAt) : 'never'],
          ['Token', clean(res.secretToken)],
        ]),
      );
      print(SHOWN_ONCE);
    });

  tokens
    .command('list')
    .description('list your tokens, or (admins) --user\'s or everyone\'s: ids, never secrets')
    .option('--user <name>', "this user's tokens (admins only)")
    .option('--all-users', "every user's tokens (admins only)")
    .option('--json', 'print [{"tokenId","user","description","createdAt","expiresAt","lastUsedAt","revokedAt"}] as JSON')
    .action(async (raw: Record<string, unknown>, self: Command) => {
      const opts = parseOptions(TokensListOptions, raw);
      const ctx = contextOf(self);
      const res = await withIdentity(ctx.connection, (identity) =>
        identity.listTokens({ userName: opts.user ?? '', allUsers: opts.allUsers }),
      );
      if (opts.json) {
        printJson(res.tokens.map(tokenJson));
        return;
      }
      if (res.tokens.length === 0) {
        print('No tokens.');
        return;
      }
      const now = ctx.style.now;
      print(
        formatTable(
          ['TOKEN ID', 'USER', 'STATE', 'CREATED', 'EXPIRES', 'LAST USED', 'DESCRIPTION'],
          res.tokens.map((t) => [
            t.tokenId,
            t.userName,
            tokenState(t, now),
            formatTimestamp(t.createdAt),
            t.expiresAt ? formatTimestamp(t.expiresAt) : 'never',
            formatTimestamp(t.lastUsedAt),
            t.description || '-',
          ]),
        ),
      );
    });

  tokens
    .command('revoke')
    .description('revoke a token by its id: yours, or (admins) anyone\'s; it stops working within seconds')
    .argument('<token-id>', 'the id `cloudai tokens list` shows')
    .action(async (raw: string, _opts: unknown, self: Command) => {
      const tokenId = parseOptions(tokenIdSchema('<token-id>'), raw);
      const ctx = contextOf(self);
      const res = await withIdentity(ctx.connection, (identity) => identity.revokeToken({ tokenId }));
      const token = answered(res.token);
      print(`Revoked token ${clean(token.tokenId)} of ${clean(token.userName)}.`);
    });
}
