import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeTask } from './testing/fake-master.js';
import { runCli } from './testing/run-cli.js';
import { useFakeMaster } from './testing/use-fake-master.js';

const { master, env } = useFakeMaster();
beforeEach(() => master.setHandlers({ getTask: async (req) => ({ task: makeTask({ taskId: req.taskId }) }) }));

/** A port nothing listens on: bind one, then let it go. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('cloudai (global behaviour)', () => {
  it('--help lists the commands and documents the exit codes', async () => {
    const res = await runCli(['--help']);
    expect(res.code).toBe(0);
    for (const cmd of ['task', 'dispatch', 'list', 'status', 'wait', 'monitor\\|logs', 'cancel', 'files', 'download', 'workers']) {
      expect(res.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
    }
    expect(res.stdout).toContain('Exit codes:');
    expect(res.stdout).toMatch(/^ {2}3 {2}the master could not be reached/m);
    expect(res.stdout).toContain('CLOUDAI_MASTER');
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const res = await runCli(['--version']);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`${pkg.version}\n`);
  });

  it('an unknown command is a one-line usage error with exit 2', async () => {
    const res = await runCli(['frobnicate']);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe("error: unknown command 'frobnicate'\n");
  });

  it('an unknown option is a usage error with exit 2', async () => {
    const res = await runCli(['list', '--colour'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe("error: unknown option '--colour'\n");
    expect(master.calls).toHaveLength(0);
  });

  it('no command at all shows the help on stderr with exit 2', async () => {
    const res = await runCli([]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('Usage: cloudai');
  });

  it('an unreachable master is exit 3 with its address in the one line', async () => {
    const port = await closedPort();
    const res = await runCli(['status', 'task-1'], { CLOUDAI_MASTER: `127.0.0.1:${port}` });
    expect(res.code).toBe(3);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      `error: cannot reach the master at 127.0.0.1:${port} (is it running? set --master or CLOUDAI_MASTER)\n`,
    );
  });

  it('--master wins over CLOUDAI_MASTER, before or after the command', async () => {
    const port = await closedPort();
    const before = await runCli(['--master', master.address, 'status', 'task-1'], { CLOUDAI_MASTER: `127.0.0.1:${port}` });
    expect(before.code).toBe(0);
    const after = await runCli(['status', 'task-1', '--master', master.address], { CLOUDAI_MASTER: `127.0.0.1:${port}` });
    expect(after.code).toBe(0);
    expect(master.callsTo('getTask')).toHaveLength(2);
  });

  it('names the source of a malformed master address', async () => {
    const fromEnv = await runCli(['status', 'task-1'], { CLOUDAI_MASTER: 'localhost' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toBe('error: CLOUDAI_MASTER must be host:port, e.g. 127.0.0.1:50051, got "localhost"\n');
    const fromFlag = await runCli(['--master', 'x:99999', 'status', 'task-1']);
    expect(fromFlag.code).toBe(2);
    expect(fromFlag.stderr).toBe('error: --master must be host:port, e.g. 127.0.0.1:50051, got "x:99999"\n');
  });

  it('identifies the user by CLOUDAI_USER, else the OS account', async () => {
    await runCli(['status', 'task-1'], { ...env, CLOUDAI_USER: 'bob' });
    await runCli(['status', 'task-1'], { ...env, CLOUDAI_USER: undefined });
    expect(master.callsTo('getTask').map((c) => c.user)).toEqual(['bob', userInfo().username]);
  });

  it('rejects a CLOUDAI_USER that cannot travel as gRPC metadata', async () => {
    const res = await runCli(['status', 'task-1'], { ...env, CLOUDAI_USER: 'bob smith' });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error: CLOUDAI_USER must be /);
    expect(master.calls).toHaveLength(0);
  });
});
