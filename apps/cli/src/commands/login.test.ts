import { Role } from '@cloudai/proto';
import { tempDir, type TempDir } from '@cloudai/testing';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServerError, Status } from 'nice-grpc';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configFileIn, modeOf, readConfigFile, writeConfigFile } from '../testing/config-home.js';
import { bearer, startFakeMaster, TEST_TOKEN, type FakeMaster } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';

let master: FakeMaster;
let home: TempDir;

/** Another well-formed token, which this master does not know. */
const UNKNOWN = `cai_${'u'.repeat(16)}_${'U'.repeat(43)}`;

beforeAll(async () => {
  master = await startFakeMaster();
});
afterAll(() => master.close());
beforeEach(async () => {
  home = await tempDir('cloudai-login-');
  master.setHandlers({
    whoAmI: async (_req, context) => {
      if (context.metadata.get('authorization') !== bearer(TEST_TOKEN)) {
        throw new ServerError(Status.UNAUTHENTICATED, 'unknown token');
      }
      return { user: { userName: 'alice', role: Role.ROLE_USER, disabled: false }, tokenId: '0123456789abcdef' };
    },
  });
});
afterEach(() => home.remove());

/** `cloudai login args...` with no token in the environment and the temporary config folder. */
function login(args: string[], input?: string, env: Record<string, string | undefined> = {}) {
  return runCli(['login', ...args], { CLOUDAI_TOKEN: undefined, XDG_CONFIG_HOME: home.path, ...env }, input === undefined ? {} : { input });
}

describe('cloudai login', () => {
  it('checks the token from stdin with WhoAmI, then saves master and token 0600 as the current profile', async () => {
    const res = await login(['--master', master.address, '--token-stdin'], `${TEST_TOKEN}\n`);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`Logged in to ${master.address} as alice (profile default)\n`);
    expect(master.callsTo('whoAmI').map((c) => c.authorization)).toEqual([bearer(TEST_TOKEN)]);
    expect(readConfigFile(home.path)).toEqual({
      current: 'default',
      profiles: { default: { master: master.address, token: TEST_TOKEN } },
    });
    expect(modeOf(configFileIn(home.path))).toBe(0o600);
    expect(modeOf(join(home.path, 'cloudai'))).toBe(0o700);
  });

  it('and the saved profile is what later commands use', async () => {
    await login(['--master', master.address, '--token-stdin'], TEST_TOKEN);
    const res = await runCli(['whoami', '--json'], { CLOUDAI_TOKEN: undefined, XDG_CONFIG_HOME: home.path });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ user: 'alice', role: 'user', tokenId: '0123456789abcdef', master: master.address });
    expect(master.callsTo('whoAmI').map((c) => c.authorization)).toEqual([bearer(TEST_TOKEN), bearer(TEST_TOKEN)]);
  });

  it('saves nothing when the master refuses the token, and never repeats it', async () => {
    const res = await login(['--master', master.address, '--token-stdin'], UNKNOWN);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`error: the master at ${master.address} did not accept the token: unknown token; nothing was saved\n`);
    expect(res.stdout).toBe('');
    expect(existsSync(configFileIn(home.path))).toBe(false);
    expect(master.callsTo('whoAmI')).toHaveLength(1);
  });

  it('leaves an existing file untouched when the master refuses the token', async () => {
    const path = writeConfigFile(home.path, { current: 'default', profiles: { default: { master: '10.0.0.1:50051', token: TEST_TOKEN } } });
    const before = readFileSync(path, 'utf8');
    const res = await login(['--master', master.address], undefined, { CLOUDAI_TOKEN: UNKNOWN });
    expect(res.code).toBe(1);
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('saves nothing when the master cannot be reached', async () => {
    master.setHandlers({
      whoAmI: async () => {
        throw new ServerError(Status.UNAVAILABLE, 'shutting down');
      },
    });
    const res = await login(['--master', master.address, '--token-stdin'], TEST_TOKEN);
    expect(res.code).toBe(3);
    expect(existsSync(configFileIn(home.path))).toBe(false);
  });

  it('takes CLOUDAI_TOKEN and CLOUDAI_MASTER, and --profile names the profile, which becomes current; others stay', async () => {
    writeConfigFile(home.path, { current: 'default', profiles: { default: { master: '10.0.0.1:50051', token: UNKNOWN } } });
    const res = await login(['--profile', 'lab'], undefined, { CLOUDAI_TOKEN: TEST_TOKEN, CLOUDAI_MASTER: master.address });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`Logged in to ${master.address} as alice (profile lab)\n`);
    expect(readConfigFile(home.path)).toEqual({
      current: 'lab',
      profiles: {
        default: { master: '10.0.0.1:50051', token: UNKNOWN },
        lab: { master: master.address, token: TEST_TOKEN },
      },
    });
  });

  it("logging in again to a profile keeps its master when none is given", async () => {
    writeConfigFile(home.path, { current: 'default', profiles: { default: { master: master.address, token: UNKNOWN } } });
    const res = await login(['--token-stdin'], TEST_TOKEN);
    expect(res.code).toBe(0);
    expect(readConfigFile(home.path)).toEqual({ current: 'default', profiles: { default: { master: master.address, token: TEST_TOKEN } } });
  });

  it('without a token says how to give one, sending nothing', async () => {
    const res = await login(['--master', master.address]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: login needs a token: pipe it to `cloudai login --token-stdin`, or set CLOUDAI_TOKEN\n');
    expect(master.calls).toHaveLength(0);
  });

  it.each([
    ['', 'error: --token-stdin read nothing: pipe the token in, e.g. cloudai login --token-stdin < token.txt\n'],
    [`${UNKNOWN.slice(0, 30)}\n`, 'error: the token from stdin is not a cloudai token: it has 30 characters, a token has 64\n'],
  ])('refuses stdin %j before sending anything', async (input, line) => {
    const res = await login(['--master', master.address, '--token-stdin'], input);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(line);
    expect(master.calls).toHaveLength(0);
    expect(existsSync(configFileIn(home.path))).toBe(false);
  });

  it('refuses --token with --token-stdin', async () => {
    const res = await login(['--master', master.address, '--token', TEST_TOKEN, '--token-stdin'], TEST_TOKEN);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: --token and --token-stdin cannot be combined\n');
  });

  it('refuses to write into a config file other users can read', async () => {
    const path = writeConfigFile(home.path, { profiles: {} }, 0o644);
    const res = await login(['--master', master.address, '--token-stdin'], TEST_TOKEN);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`error: other users can access ${path} (mode 0644), which holds secrets: run chmod 600 ${path}\n`);
    expect(master.calls).toHaveLength(0);
  });
});
