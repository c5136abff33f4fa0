import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import { TaskSortKey } from '@cloudai/proto';
import { makeTask, bearer, TEST_TOKEN } from './testing/fake-master.js';
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
    for (const cmd of ['login', 'whoami', 'task', 'dispatch', 'list', 'status', 'wait', 'monitor\\|logs', 'cancel', 'files', 'download', 'workers', 'users', 'tokens']) {
      expect(res.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
    }
    expect(res.stdout).toContain('Exit codes:');
    expect(res.stdout).toMatch(/^ {2}1 {2}the operation failed: the master refused it \(not logged in,/m);
    expect(res.stdout).toMatch(/^ {2}3 {2}the master could not be reached/m);
    for (const variable of ['CLOUDAI_MASTER', 'CLOUDAI_TOKEN', 'CLOUDAI_PROFILE', 'XDG_CONFIG_HOME']) {
      expect(res.stdout).toMatch(new RegExp(`^ {2}${variable} `, 'm'));
    }
    expect(res.stdout).not.toContain('CLOUDAI_USER');
    expect(res.stdout).toContain('$XDG_CONFIG_HOME/cloudai/config.json (default ~/.config/cloudai/config.json)');
    for (const option of ['--master <host:port>', '--token <token>', '--profile <name>', '--tls-ca <file>']) {
      expect(res.stdout).toContain(option);
    }
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

  it('does not repeat a token pasted where a command belongs', async () => {
    const res = await runCli([TEST_TOKEN]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe("error: unknown command 'cai_<redacted>'\n");
  });

  it('does not repeat a token in any error line, as when pasted where an image belongs', async () => {
    const res = await runCli(['task', TEST_TOKEN], { CLOUDAI_MASTER: master.address });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error: <image> "cai_<redacted>" is not valid: /);
    expect(master.calls).toHaveLength(0);
  });

  it('an unknown option is a usage error with exit 2', async () => {
    const res = await runCli(['list', '--colour'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe("error: unknown option '--colour'\n");
    expect(master.calls).toHaveLength(0);
  });

  it('list --sort asks the master for that order, and refuses an unknown one naming --sort', async () => {
    master.setHandlers({ listTasks: async () => ({ tasks: [makeTask()], nextPageToken: '' }) });
    const sorted = await runCli(['list', '--sort', '-task_name'], { CLOUDAI_MASTER: master.address });
    expect(sorted.code).toBe(0);
    expect(master.callsTo('listTasks').at(-1)!.request).toMatchObject({ sortBy: TaskSortKey.TASK_SORT_KEY_TASK_NAME, ascending: false });
    const plain = await runCli(['list'], { CLOUDAI_MASTER: master.address });
    expect(plain.code).toBe(0);
    expect(master.callsTo('listTasks').at(-1)!.request).toMatchObject({ sortBy: TaskSortKey.TASK_SORT_KEY_SUBMITTED_AT, ascending: false });
    const calls = master.calls.length;
    const bad = await runCli(['list', '--sort', 'user'], { CLOUDAI_MASTER: master.address });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: --sort must be one of submitted_at, -submitted_at, task_name/);
    expect(master.calls).toHaveLength(calls);
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

  it('sends the token as `authorization: Bearer`, and no user name of its own', async () => {
    const res = await runCli(['status', 'task-1'], { CLOUDAI_MASTER: master.address, CLOUDAI_USER: 'bob' });
    expect(res.code).toBe(0);
    const [call] = master.callsTo('getTask');
    expect(call!.authorization).toBe(bearer());
    expect(call!.metadataKeys).not.toContain('x-cloudai-user');
  });

  it('rejects a malformed CLOUDAI_TOKEN before calling the master, without repeating it', async () => {
    const secret = 'X'.repeat(40); // three characters short
    const res = await runCli(['status', 'task-1'], { CLOUDAI_MASTER: master.address, CLOUDAI_TOKEN: `cai_${'L'.repeat(16)}_${secret}` });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: the token from CLOUDAI_TOKEN is not a cloudai token: it has 61 characters, a token has 64\n');
    expect(res.stderr).not.toMatch(/XXXX|LLLL/);
    expect(master.calls).toHaveLength(0);
  });
});
