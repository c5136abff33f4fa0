import { readFileSync } from 'node:fs';
import { Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { bearer, failWith } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();
const CLI_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('cloudai version', () => {
  it("prints the CLI's version and the master's, asking the master with the token", async () => {
    master.setHandlers({ getVersion: async () => ({ version: '9.8.7' }) });
    const res = await runCli(['version'], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`CLI:     ${CLI_VERSION}\nMaster:  9.8.7 (${master.address})\n`);
    expect(master.callsTo('getVersion').map((c) => c.authorization)).toEqual([bearer()]);
  });

  it('--json prints both versions and the master address', async () => {
    master.setHandlers({ getVersion: async () => ({ version: '9.8.7' }) });
    const res = await runCli(['version', '--json'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ cli: CLI_VERSION, master: '9.8.7', masterAddress: master.address });
  });

  it("makes a master's version inert for the terminal", async () => {
    master.setHandlers({ getVersion: async () => ({ version: '1.0\u001b[2J' }) });
    const res = await runCli(['version'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).not.toContain('\u001b');
  });

  it("without a token: the CLI's version, master unknown, why on stderr, exit 1", async () => {
    const res = await runCli(['version'], { ...env, CLOUDAI_TOKEN: undefined });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe(`CLI:     ${CLI_VERSION}\nMaster:  unknown\n`);
    expect(res.stderr).toBe('error: not logged in: run `cloudai login` (or set CLOUDAI_TOKEN)\n');
    expect(master.calls).toHaveLength(0);
  });

  it("an unreachable master: the CLI's version, why in masterError, exit 3", async () => {
    const res = await runCli(['version', '--json'], { ...env, CLOUDAI_MASTER: '127.0.0.1:1' });
    expect(res.code).toBe(3);
    expect(JSON.parse(res.stdout)).toEqual({
      cli: CLI_VERSION,
      master: null,
      masterAddress: '127.0.0.1:1',
      masterError: expect.stringMatching(/^cannot reach the master at 127\.0\.0\.1:1/),
    });
    expect(res.stderr).toMatch(/^error: cannot reach the master at 127\.0\.0\.1:1/);
  });

  it('a master that refuses the token or predates GetVersion: exit 1, saying so', async () => {
    master.setHandlers({ getVersion: failWith(Status.UNAUTHENTICATED, 'wrong token') });
    const refused = await runCli(['version'], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('Master:  unknown');
    expect(refused.stderr).toMatch(/^error: not authenticated: wrong token/);

    master.setHandlers({});
    const older = await runCli(['version'], env);
    expect(older.code).toBe(1);
    expect(older.stderr).toMatch(/does not support this command/);
  });

  it('-V still prints only the CLI version, without asking the master', async () => {
    const res = await runCli(['-V'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`${CLI_VERSION}\n`);
    expect(master.calls).toHaveLength(0);
  });
});
