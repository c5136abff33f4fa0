import { userNameSchema } from '@cloudai/domain';
import { Role, type User } from '@cloudai/proto';
import type { Command } from 'commander';
import { withIdentity } from '../client.js';
import { contextOf, print } from '../context.js';
import { clean, formatKeyValues, formatTable, formatTimestamp } from '../format.js';
import { parseOptions, UsersAddOptions } from '../options.js';
import { SHOWN_ONCE } from '../render.js';
import { printJson, roleName, userJson } from '../views.js';

function answered(user: User | undefined): User {
  if (!user) throw new Error('the master answered without a user');
  return user;
}

/** `users disable` and `users enable`: the same call, the other way round. */
function registerSetDisabled(users: Command, name: 'disable' | 'enable'): void {
  const disabled = name === 'disable';
  users
    .command(name)
    .description(disabled ? "stop a user's tokens from working (admins only); their tasks stay" : 'let a disabled user in again (admins only)')
    .argument('<name>', 'the user')
    .action(async (raw: string, _opts: unknown, self: Command) => {
      const userName = parseOptions(userNameSchema('<name>'), raw);
      const ctx = contextOf(self);
      const res = await withIdentity(ctx.connection, (identity) => identity.setUserDisabled({ userName, disabled }));
      const user = answered(res.user);
      print(
        disabled
          ? `User ${clean(user.userName)} is disabled: their tokens stop working within seconds.`
          : `User ${clean(user.userName)} is enabled.`,
      );
    });
}

export function registerUsers(program: Command): void {
  const users = program.command('users').description('manage users (admins only)');

  users
    .command('add')
    .description('create a user and their first token, which is shown once (admins only)')
    .argument('<name>', 'user name: letters, digits and "._@+-", starting with a letter or digit')
    .option('--admin', 'make the user an admin (acts on every task, manages users and tokens)')
    .option('--json', 'print {"user","role","tokenId","token"} as JSON')
    .action(async (name: string, raw: Record<string, unknown>, self: Command) => {
      const opts = parseOptions(UsersAddOptions, { ...raw, name });
      const ctx = contextOf(self);
      const res = await withIdentity(ctx.connection, (identity) =>
        identity.createUser({ userName: opts.name, role: opts.admin ? Role.ROLE_ADMIN : Role.ROLE_USER }),
      );
      const user = answered(res.user);
      if (res.secretToken === '') throw new Error('the master answered without a token');
      const created = { user: user.userName, role: roleName(user.role), tokenId: res.token?.tokenId ?? '', token: res.secretToken };
      if (opts.json) {
        printJson(created);
        return;
      }
      print(`Created user ${clean(created.user)} (${created.role}).`);
      print(formatKeyValues([['Token ID', clean(created.tokenId)], ['Token', clean(created.token)]]));
      print(SHOWN_ONCE);
    });

  users
    .command('list')
    .description('list users with their role and whether they are disabled (admins only)')
    .option('--json', 'print [{"user","role","disabled","createdAt"}] as JSON')
    .action(async (opts: { json?: boolean }, self: Command) => {
      const ctx = contextOf(self);
      const res = await withIdentity(ctx.connection, (identity) => identity.listUsers({}));
      if (opts.json) {
        printJson(res.users.map(userJson));
        return;
      }
      if (res.users.length === 0) {
        print('No users.');
        return;
      }
      print(
        formatTable(
          ['USER', 'ROLE', 'STATE', 'CREATED'],
          res.users.map((u) => [u.userName, roleName(u.role), u.disabled ? 'disabled' : 'active', formatTimestamp(u.createdAt)]),
        ),
      );
    });

  registerSetDisabled(users, 'disable');
  registerSetDisabled(users, 'enable');
}
