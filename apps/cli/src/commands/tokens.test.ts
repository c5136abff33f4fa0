import type { CreateTokenRequest, ListTokensRequest, RevokeTokenRequest, TokenInfo } from '@cloudai/proto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bearer, startFakeMaster, TEST_TOKEN, type FakeMaster } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';

let master: FakeMaster;
let env: Record<string, string>;

const NEW_TOKEN = `cai_${'N'.repeat(16)}_${'n'.repeat(43)}`;
const createdAt = new Date('2025-01-01T12:00:00Z');

const active: TokenInfo = { tokenId: 'AAAAAAAAAAAAAAAA', userName: 'alice', description: 'laptop', createdAt, lastUsedAt: createdAt };
const revoked: TokenInfo = { tokenId: 'RRRRRRRRRRRRRRRR', userName: 'alice', description: '', createdAt, revokedAt: createdAt };
const expired: TokenInfo = { tokenId: 'EEEEEEEEEEEEEEEE', userName: 'bob', description: 'ci', createdAt, expiresAt: new Date('2025-02-01T00:00:00Z') };

beforeAll(async () => {
  master = await startFakeMaster();
  env = { CLOUDAI_MASTER: master.address };
});
afterAll(() => master.close());
beforeEach(() =>
  master.setHandlers({
    createToken: async (req) => ({
      token: {
        tokenId: 'NNNNNNNNNNNNNNNN',
        userName: req.userName || 'alice',
        description: req.description,
        createdAt,
        expiresAt: req.expiresInSeconds === 0 ? undefined : new Date(createdAt.getTime() + req.expiresInSeconds * 1000),
      },
      secretToken: NEW_TOKEN,
    }),
    listTokens: async () => ({ tokens: [active, revoked, expired] }),
    revokeToken: async (req) => ({ token: { ...active, tokenId: req.tokenId, revokedAt: new Date() } }),
  }),
);

const createRequest = () => master.callsTo('createToken')[0]!.request as CreateTokenRequest;

describe('cloudai tokens create', () => {
  it('creates a token for the caller that never expires, shown once', async () => {
    const res = await runCli(['tokens', 'create'], env);
    expect(res.code).toBe(0);
    expect(createRequest()).toEqual({ userName: '', description: '', expiresInSeconds: 0 });
    expect(master.callsTo('createToken')[0]!.authorization).toBe(bearer());
    expect(res.stdout).toBe(
      [
        'Token ID:     NNNNNNNNNNNNNNNN',
        'User:         alice',
        'Description:  -',
        'Expires:      never',
        `Token:        ${NEW_TOKEN}`,
        'Save this token now: it will not be shown again.',
        '',
      ].join('\n'),
    );
  });

  it('sends --user, --description and --expires in seconds; --json prints the token', async () => {
    const res = await runCli(['tokens', 'create', '--user', 'bob', '--description', 'ci runner', '--expires', '30d', '--json'], env);
    expect(res.code).toBe(0);
    expect(createRequest()).toEqual({ userName: 'bob', description: 'ci runner', expiresInSeconds: 30 * 86_400 });
    expect(JSON.parse(res.stdout)).toEqual({
      tokenId: 'NNNNNNNNNNNNNNNN',
      user: 'bob',
      description: 'ci runner',
      expiresAt: '2025-01-31T12:00:00.000Z',
      token: NEW_TOKEN,
    });
  });

  it.each([
    ['90m', 5400],
    ['12h', 43_200],
    ['1d12h', 129_600],
    ['45s', 45],
  ])('--expires %s is %i seconds', async (expires, seconds) => {
    const res = await runCli(['tokens', 'create', '--expires', expires], env);
    expect(res.code).toBe(0);
    expect(createRequest().expiresInSeconds).toBe(seconds);
  });

  it.each([
    [['--expires', '30'], '--expires must be a duration like 90m, 12h or 30d, got "30"'],
    [['--expires', '1y'], '--expires must be a duration like 90m, 12h or 30d, got "1y"'],
    [['--expires', '0d'], '--expires must be at least 1s, got "0d"'],
    [['--expires', '50000d'], '--expires must be at most 49710d, got "50000d"'],
    [['--user', 'bob smith'], '--user must be 1-128 letters, digits or "._@+-" characters, starting with a letter or digit, got "bob smith"'],
    [['--description', 'a\u001bb'], '--description must not contain control characters'],
  ])('refuses %j with exit 2, sending nothing', async (args, message) => {
    const res = await runCli(['tokens', 'create', ...args], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`error: ${message}\n`);
    expect(master.calls).toHaveLength(0);
  });
});

describe('cloudai tokens list', () => {
  it("lists the caller's tokens: ids and states, never secrets", async () => {
    const res = await runCli(['tokens', 'list'], { ...env, CLOUDAI_TOKEN: TEST_TOKEN });
    expect(res.code).toBe(0);
    expect(master.callsTo('listTokens')[0]!.request as ListTokensRequest).toEqual({ userName: '', allUsers: false });
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TOKEN ID +USER +STATE +CREATED +EXPIRES +LAST USED +DESCRIPTION$/);
    expect(lines.slice(1).map((l) => l.split(/ {2,}/))).toEqual([
      ['AAAAAAAAAAAAAAAA', 'alice', 'active', '2025-01-01 12:00:00 UTC', 'never', '2025-01-01 12:00:00 UTC', 'laptop'],
      ['RRRRRRRRRRRRRRRR', 'alice', 'revoked', '2025-01-01 12:00:00 UTC', 'never', '-', '-'],
      ['EEEEEEEEEEEEEEEE', 'bob', 'expired', '2025-01-01 12:00:00 UTC', '2025-02-01 00:00:00 UTC', '-', 'ci'],
    ]);
    expect(res.stdout).not.toContain('cai_');
  });

  it('--user and --all-users ask for another user\'s or everyone\'s; --json has no secret field', async () => {
    await runCli(['tokens', 'list', '--user', 'bob'], env);
    const res = await runCli(['tokens', 'list', '--all-users', '--json'], env);
    expect(master.callsTo('listTokens').map((c) => c.request)).toEqual([
      { userName: 'bob', allUsers: false },
      { userName: '', allUsers: true },
    ]);
    const tokens = JSON.parse(res.stdout) as Record<string, unknown>[];
    expect(tokens[0]).toEqual({
      tokenId: 'AAAAAAAAAAAAAAAA',
      user: 'alice',
      description: 'laptop',
      createdAt: '2025-01-01T12:00:00.000Z',
      expiresAt: null,
      lastUsedAt: '2025-01-01T12:00:00.000Z',
      revokedAt: null,
    });
  });

  it('refuses --user with --all-users', async () => {
    const res = await runCli(['tokens', 'list', '--user', 'bob', '--all-users'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: --user and --all-users cannot be combined\n');
    expect(master.calls).toHaveLength(0);
  });
});

describe('cloudai tokens revoke', () => {
  it('revokes by id', async () => {
    const res = await runCli(['tokens', 'revoke', 'AAAAAAAAAAAAAAAA'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('Revoked token AAAAAAAAAAAAAAAA of alice.\n');
    expect(master.callsTo('revokeToken')[0]!.request as RevokeTokenRequest).toEqual({ tokenId: 'AAAAAAAAAAAAAAAA' });
  });

  it('refuses a whole token in place of its id without printing it', async () => {
    const res = await runCli(['tokens', 'revoke', NEW_TOKEN], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: <token-id> must be a token id, not the token itself: the 16 characters after cai_\n');
    expect(master.calls).toHaveLength(0);
  });
});
