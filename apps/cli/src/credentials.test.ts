import { tempDir, type TempDir } from '@cloudai/testing';
import { ServerError, Status } from 'nice-grpc';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_MASTER, masterOf, selectProfile } from './credentials.js';
import { writeConfigFile } from './testing/config-home.js';
import { bearer, makeTask, startFakeMaster, type FakeMaster } from './testing/fake-master.js';
import { runCli } from './testing/run-cli.js';

// How the CLI finds its master and token: flags, environment, profiles of a
// real config file under a temporary XDG_CONFIG_HOME, against a real gRPC
// stand-in for the master that records the credential each call carried.

let master: FakeMaster;
let other: FakeMaster;
let home: TempDir;

/** Distinct well-formed tokens, to tell apart which one a call carried. */
const token = (letter: string) => `cai_${letter.repeat(16)}_${letter.repeat(43)}`;
const FLAG = token('f');
const ENV = token('e');
const SAVED = token('p');
const WORK = token('w');

beforeAll(async () => {
  [master, other] = await Promise.all([startFakeMaster(), startFakeMaster()]);
});
afterAll(() => Promise.all([master.close(), other.close()]));
beforeEach(async () => {
  home = await tempDir('cloudai-cli-config-');
  const getTask = async (req: { taskId: string }) => ({ task: makeTask({ taskId: req.taskId }) });
  master.setHandlers({ getTask });
  other.setHandlers({ getTask });
});
afterEach(() => home.remove());

/** `cloudai status task-1` with only what `env` sets (no test token, the temporary config folder). */
function status(env: Record<string, string | undefined>, args: string[] = []) {
  return runCli([...args, 'status', 'task-1'], { CLOUDAI_TOKEN: undefined, XDG_CONFIG_HOME: home.path, ...env });
}

function profiles() {
  return {
    current: 'default',
    profiles: {
      default: { master: master.address, token: SAVED },
      work: { master: other.address, token: WORK },
    },
  };
}

describe('the token', () => {
  beforeEach(() => writeConfigFile(home.path, profiles()));

  it('is --token first, then CLOUDAI_TOKEN, then the profile', async () => {
    expect((await status({ CLOUDAI_TOKEN: ENV }, ['--token', FLAG])).code).toBe(0);
    expect((await status({ CLOUDAI_TOKEN: ENV })).code).toBe(0);
    expect((await status({})).code).toBe(0);
    expect((await status({ CLOUDAI_TOKEN: '' })).code).toBe(0);
    expect(master.callsTo('getTask').map((c) => c.authorization)).toEqual([bearer(FLAG), bearer(ENV), bearer(SAVED), bearer(SAVED)]);
  });

  it('from the profile goes to the profile\'s master unless --master or CLOUDAI_MASTER says otherwise', async () => {
    expect((await status({ CLOUDAI_MASTER: other.address })).code).toBe(0);
    expect((await status({ CLOUDAI_MASTER: master.address }, ['--master', other.address])).code).toBe(0);
    expect(other.callsTo('getTask').map((c) => c.authorization)).toEqual([bearer(SAVED), bearer(SAVED)]);
    expect(master.calls).toHaveLength(0);
  });
});

describe('the master', () => {
  it('is 127.0.0.1:50051 when neither flag, variable nor profile names one', () => {
    writeConfigFile(home.path, { profiles: { default: { token: SAVED } } });
    const env = { XDG_CONFIG_HOME: home.path, CLOUDAI_MASTER: '' };
    expect(masterOf({}, env, selectProfile({}, env))).toBe(DEFAULT_MASTER);
    expect(DEFAULT_MASTER).toBe('127.0.0.1:50051');
  });

  it("from a profile is checked like --master, naming the profile", async () => {
    const path = writeConfigFile(home.path, { profiles: { default: { master: 'localhost', token: SAVED } } });
    const res = await status({});
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`error: the master of profile "default" in ${path} must be host:port, e.g. 127.0.0.1:50051, got "localhost"\n`);
  });
});

describe('the profile', () => {
  it('is --profile first, then CLOUDAI_PROFILE, then the file\'s current one', async () => {
    writeConfigFile(home.path, { ...profiles(), current: 'work' });
    expect((await status({ CLOUDAI_PROFILE: 'work' }, ['--profile', 'default'])).code).toBe(0);
    expect((await status({ CLOUDAI_PROFILE: 'default' })).code).toBe(0);
    expect((await status({})).code).toBe(0);
    expect(master.callsTo('getTask').map((c) => c.authorization)).toEqual([bearer(SAVED), bearer(SAVED)]);
    expect(other.callsTo('getTask').map((c) => c.authorization)).toEqual([bearer(WORK)]);
  });

  it('is "default" when the file names no current one', async () => {
    writeConfigFile(home.path, { profiles: profiles().profiles });
    expect((await status({})).code).toBe(0);
    expect(master.callsTo('getTask').map((c) => c.authorization)).toEqual([bearer(SAVED)]);
  });

  it('lives in ~/.config/cloudai/config.json when XDG_CONFIG_HOME is unset', async () => {
    writeConfigFile(`${home.path}/.config`, profiles());
    const res = await status({ XDG_CONFIG_HOME: undefined, HOME: home.path });
    expect(res.code).toBe(0);
    expect(master.callsTo('getTask').map((c) => c.authorization)).toEqual([bearer(SAVED)]);
  });

  it('named but missing is one line saying how to log in to it', async () => {
    const path = writeConfigFile(home.path, profiles());
    const res = await status({}, ['--profile', 'lab']);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      `error: not logged in: profile "lab" is not in ${path}; run \`cloudai login --profile lab\` (or set CLOUDAI_TOKEN)\n`,
    );
  });

  it('with a name that could not be saved is a usage error', async () => {
    const res = await status({ CLOUDAI_PROFILE: '../etc' });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      'error: CLOUDAI_PROFILE must be 1-64 letters, digits or "._-" characters, starting with a letter or digit, got "../etc"\n',
    );
  });
});

describe('the config file', () => {
  it('is refused when other users can read it, and says to chmod 600', async () => {
    const path = writeConfigFile(home.path, profiles(), 0o644);
    const res = await status({});
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`error: other users can access ${path} (mode 0644), which holds secrets: run chmod 600 ${path}\n`);
    expect(master.calls).toHaveLength(0);
  });

  it('that is not JSON is one line naming it, without quoting what it holds', async () => {
    const path = writeConfigFile(home.path, `{"profiles": {"default": {"token": ${SAVED}}}}`);
    const res = await status({});
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`error: ${path} is not valid JSON: Unexpected token 'c'\n`);
    expect(res.stderr).not.toContain('ppp');
  });

  it('of the wrong shape is one line naming it and the problem', async () => {
    const path = writeConfigFile(home.path, { profiles: { default: { master: master.address, token: 42 } } });
    const res = await status({});
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`error: ${path} is malformed: profiles.default.token: Invalid input: expected string, received number\n`);
  });

  it('with a malformed token names the profile, not the token', async () => {
    const path = writeConfigFile(home.path, { profiles: { default: { master: master.address, token: `${SAVED}x` } } });
    const res = await status({});
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      `error: the token from profile "default" in ${path} is not a cloudai token: it has 65 characters, a token has 64\n`,
    );
    expect(master.calls).toHaveLength(0);
  });
});

describe('without a token', () => {
  // Every command that calls the master, with arguments that pass their own checks.
  it.each([
    ['task', 'alpine:3.20'],
    ['dispatch', 'worker-1', 'alpine:3.20'],
    ['list'],
    ['status', 'task-1'],
    ['wait', 'task-1'],
    ['monitor', 'task-1'],
    ['cancel', 'task-1'],
    ['files', 'task-1'],
    ['files', 'rm', 'task-1'],
    ['download', 'task-1', '--out', '/nonexistent/out'],
    ['workers'],
    ['whoami'],
    ['users', 'add', 'bob'],
    ['users', 'list'],
    ['users', 'disable', 'bob'],
    ['users', 'enable', 'bob'],
    ['tokens', 'create'],
    ['tokens', 'list'],
    ['tokens', 'revoke', '0123456789abcdef'],
  ])('%s fails with exit 1 and one line saying how to log in', async (...args) => {
    const res = await runCli(args, { CLOUDAI_TOKEN: undefined, XDG_CONFIG_HOME: home.path, CLOUDAI_MASTER: master.address });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('error: not logged in: run `cloudai login` (or set CLOUDAI_TOKEN)\n');
    expect(master.calls).toHaveLength(0);
  });

  it('a profile with a master but no token is not logged in either', async () => {
    writeConfigFile(home.path, { profiles: { default: { master: master.address } } });
    const res = await status({});
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: not logged in: run `cloudai login` (or set CLOUDAI_TOKEN)\n');
  });
});

describe('the master refusing the token', () => {
  it('UNAUTHENTICATED is one line with its reason and how to log in, never the token', async () => {
    master.setHandlers({
      getTask: async (_req, context) => {
        // A careless server that quotes what it refused.
        throw new ServerError(Status.UNAUTHENTICATED, `token revoked: ${context.metadata.get('authorization') ?? ''}`);
      },
    });
    const res = await status({ CLOUDAI_TOKEN: ENV, CLOUDAI_MASTER: master.address });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      'error: not authenticated: token revoked: Bearer cai_<redacted>; run `cloudai login` (or set CLOUDAI_TOKEN)\n',
    );
    expect(res.stderr).not.toContain(ENV.slice(4));
  });

  it('PERMISSION_DENIED is one line', async () => {
    master.setHandlers({
      getTask: async () => {
        throw new ServerError(Status.PERMISSION_DENIED, 'admins only');
      },
    });
    const res = await status({ CLOUDAI_TOKEN: ENV, CLOUDAI_MASTER: master.address });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: permission denied: admins only\n');
  });
});

describe('secrets', () => {
  it('a malformed --token is never repeated, whatever is wrong with it', async () => {
    for (const [bad, why] of [
      [`${FLAG} `, 'it contains whitespace'],
      [`cay_${FLAG.slice(4)}`, 'it does not start with cai_'],
      [`${FLAG.slice(0, 20)}.${FLAG.slice(21)}`, 'it is not cai_<16-character id>_<43-character secret> made of letters, digits, _ and -'],
    ] as const) {
      const res = await status({ CLOUDAI_MASTER: master.address }, ['--token', bad]);
      expect(res.code).toBe(2);
      expect(res.stderr).toBe(`error: the token from --token is not a cloudai token: ${why}\n`);
      expect(res.stderr).not.toContain('ffff');
    }
    expect(master.calls).toHaveLength(0);
  });
});
