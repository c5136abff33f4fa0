import { Role, type CreateUserRequest, type SetUserDisabledRequest } from '@cloudai/proto';
import { ServerError, Status } from 'nice-grpc';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bearer, startFakeMaster, type FakeMaster } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';

let master: FakeMaster;
let env: Record<string, string>;

const NEW_TOKEN = `cai_${'B0b'.repeat(5)}b_${'n3w'.repeat(14)}x`;
const createdAt = new Date('2025-01-01T12:00:00Z');

beforeAll(async () => {
  master = await startFakeMaster();
  env = { CLOUDAI_MASTER: master.address };
});
afterAll(() => master.close());
beforeEach(() =>
  master.setHandlers({
    createUser: async (req) => ({
      user: { userName: req.userName, role: req.role, disabled: false, createdAt },
      token: { tokenId: 'B0bB0bB0bB0bB0bb', userName: req.userName, description: '', createdAt },
      secretToken: NEW_TOKEN,
    }),
    listUsers: async () => ({
      users: [
        { userName: 'admin', role: Role.ROLE_ADMIN, disabled: false, createdAt },
        { userName: 'bob', role: Role.ROLE_USER, disabled: true, createdAt },
      ],
    }),
    setUserDisabled: async (req) => ({ user: { userName: req.userName, role: Role.ROLE_USER, disabled: req.disabled, createdAt } }),
  }),
);

describe('cloudai users add', () => {
  it('--json prints {"user","role","tokenId","token"} with the new token', async () => {
    const res = await runCli(['users', 'add', 'bob', '--json'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ user: 'bob', role: 'user', tokenId: 'B0bB0bB0bB0bB0bb', token: NEW_TOKEN });
    const [call] = master.callsTo('createUser');
    expect(call!.request as CreateUserRequest).toEqual({ userName: 'bob', role: Role.ROLE_USER });
    expect(call!.authorization).toBe(bearer());
  });

  it('prints the token once, saying it will not be shown again', async () => {
    const res = await runCli(['users', 'add', 'carol', '--admin'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      [
        'Created user carol (admin).',
        'Token ID:  B0bB0bB0bB0bB0bb',
        `Token:     ${NEW_TOKEN}`,
        'Save this token now: it will not be shown again.',
        '',
      ].join('\n'),
    );
    expect((master.callsTo('createUser')[0]!.request as CreateUserRequest).role).toBe(Role.ROLE_ADMIN);
  });

  it('refuses a name the master would refuse, sending nothing', async () => {
    const res = await runCli(['users', 'add', 'bob smith'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      'error: <name> must be 1-128 letters, digits or "._@+-" characters, starting with a letter or digit, got "bob smith"\n',
    );
    expect(master.calls).toHaveLength(0);
  });

  it('a caller who is not an admin gets one line, exit 1', async () => {
    master.setHandlers({
      createUser: async () => {
        throw new ServerError(Status.PERMISSION_DENIED, 'only admins manage users');
      },
    });
    const res = await runCli(['users', 'add', 'bob'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: permission denied: only admins manage users\n');
    expect(res.stdout).toBe('');
  });
});

describe('cloudai users list', () => {
  it('prints a table of users', async () => {
    const res = await runCli(['users', 'list'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      [
        'USER   ROLE   STATE     CREATED',
        'admin  admin  active    2025-01-01 12:00:00 UTC',
        'bob    user   disabled  2025-01-01 12:00:00 UTC',
        '',
      ].join('\n'),
    );
  });

  it('--json prints [{"user","role","disabled","createdAt"}]', async () => {
    const res = await runCli(['users', 'list', '--json'], env);
    expect(JSON.parse(res.stdout)).toEqual([
      { user: 'admin', role: 'admin', disabled: false, createdAt: '2025-01-01T12:00:00.000Z' },
      { user: 'bob', role: 'user', disabled: true, createdAt: '2025-01-01T12:00:00.000Z' },
    ]);
  });
});

describe('cloudai users disable / enable', () => {
  it('disable sends disabled=true and says the tokens stop working', async () => {
    const res = await runCli(['users', 'disable', 'bob'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('User bob is disabled: their tokens stop working within seconds.\n');
    expect(master.callsTo('setUserDisabled')[0]!.request as SetUserDisabledRequest).toEqual({ userName: 'bob', disabled: true });
  });

  it('enable sends disabled=false', async () => {
    const res = await runCli(['users', 'enable', 'bob'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('User bob is enabled.\n');
    expect(master.callsTo('setUserDisabled')[0]!.request as SetUserDisabledRequest).toEqual({ userName: 'bob', disabled: false });
  });

  it('an unknown user is the master\'s one line, exit 1', async () => {
    master.setHandlers({
      setUserDisabled: async () => {
        throw new ServerError(Status.NOT_FOUND, 'user "zed" not found');
      },
    });
    const res = await runCli(['users', 'disable', 'zed'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: user "zed" not found\n');
  });
});
