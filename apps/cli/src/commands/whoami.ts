import type { Command } from 'commander';
import { withIdentity } from '../client.js';
import { contextOf, print } from '../context.js';
import { clean, formatKeyValues } from '../format.js';
import { printJson, roleName } from '../views.js';

export function registerWhoami(program: Command): void {
  program
    .command('whoami')
    .description('show who the master takes you for: user, role and the token in use')
    .option('--json', 'print {"user","role","tokenId","master"} as JSON')
    .action(async (opts: { json?: boolean }, self: Command) => {
      const ctx = contextOf(self);
      const res = await withIdentity(ctx.connection, (identity) => identity.whoAmI({}));
      if (!res.user) throw new Error('the master answered without a user');
      const me = { user: res.user.userName, role: roleName(res.user.role), tokenId: res.tokenId, master: ctx.connection.address };
      if (opts.json) {
        printJson(me);
        return;
      }
      print(
        formatKeyValues([
          ['User', clean(me.user)],
          ['Role', me.role],
          ['Token ID', clean(me.tokenId)],
          ['Token From', ctx.connection.token.source],
          ['Master', me.master],
        ]),
      );
    });
}
