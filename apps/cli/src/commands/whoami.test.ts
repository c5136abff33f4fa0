import { Role } from '@cloudai/proto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bearer, startFakeMaster, type FakeMaster } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';

let master: FakeMaster;
let env: Record<string, string>;

beforeAll(async () => {
  master = await startFakeMaster();
  env = { CLOUDAI_MASTER: master.address };
});
afterAll(() => master.close());
beforeEach(() =>
  master.setHandlers({
    whoAmI: async () => ({ user: { userName: 'root', role: Role.ROLE_ADMIN, disabled: false }, tokenId: 'AbCdEfGh01234567' }),
  }),
);

describe('cloudai whoami', () => {
  it('prints the user, role, token id, where the token came from and the master', async () => {
    const res = await runCli(['whoami'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      [
        'User:        root',
        'Role:        admin',
        'Token ID:    AbCdEfGh01234567',
        'Token From:  CLOUDAI_TOKEN',
        `Master:      ${master.address}`,
        '',
      ].join('\n'),
    );
    expect(master.callsTo('whoAmI').map((c) => c.authorization)).toEqual([bearer()]);
  });

  it('--json prints {"user","role","tokenId","master"}', async () => {
    const res = await runCli(['whoami', '--json'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ user: 'root', role: 'admin', tokenId: 'AbCdEfGh01234567', master: master.address });
  });
});
