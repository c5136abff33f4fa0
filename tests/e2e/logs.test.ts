import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LogStream, TaskServiceDefinition, type LogEntry, type TaskOutcome } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import {
  appMain,
  freePort,
  removeContainersLabelled,
  requireDocker,
  startApp,
  startCluster,
  stopApp,
  TEST_IMAGE,
  waitFor,
  type LocalCluster,
} from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 3 (logs) as a user sees it: real master, scheduler, storage and
// worker processes, real containers, and the built `cloudai` binary. The
// master listens on a fixed port so it can be restarted on the same address.

const CAP = 64 * 1024;
let docker: Awaited<ReturnType<typeof requireDocker>>;
let cluster: LocalCluster;
let masterEnv: Record<string, string>;
let api: ReturnType<typeof connect<typeof TaskServiceDefinition>>;

beforeAll(async () => {
  docker = await requireDocker();
  const port = await freePort();
  // A short grace so a SIGTERM with a follower attached does not wait 10 s.
  // A small log cap (64 KiB) so truncation is seen end to end; every other task logs far less.
  masterEnv = { LISTEN_ADDR: `127.0.0.1:${port}`, SHUTDOWN_GRACE_MS: '2000', LOG_MAX_BYTES_PER_TASK: String(CAP) };
  cluster = await startCluster({
    workers: 1,
    masterEnv,
    workerEnv: () => ({ WORKER_CPU: '4', WORKER_MEMORY_GB: '4', WORKER_STORAGE_GB: '20' }),
  });
  expect(cluster.masterAddr).toBe(masterEnv.LISTEN_ADDR);
  api = connect(TaskServiceDefinition, cluster.masterAddr, { bearer: () => cluster.userToken });
});

afterAll(async () => {
  api?.close();
  await cluster?.stop();
  // This cluster's containers only: other test files run their own clusters on the same engine at the same time.
  if (docker && cluster) await removeContainersLabelled(docker, `cloudai.worker_id=${cluster.workerId(1)}`);
});

const cli = (...args: string[]) => cluster.cli(args);

interface RawResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** The built CLI with stdout kept as bytes, for checks that must not go through a string. */
function cliRaw(...args: string[]): { child: ChildProcess; stdout: Buffer[]; stderr: string[]; done: Promise<RawResult> } {
  const child = spawn(process.execPath, [appMain('cli'), '--master', cluster.masterAddr, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', CLOUDAI_TOKEN: cluster.userToken, XDG_CONFIG_HOME: '/nonexistent', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: string[] = [];
  child.stdout!.on('data', (b: Buffer) => stdout.push(b));
  child.stderr!.on('data', (b: Buffer) => stderr.push(b.toString()));
  const done = new Promise<RawResult>((res) =>
    child.on('close', (code) => res({ code, stdout: Buffer.concat(stdout), stderr: stderr.join('') })),
  );
  return { child, stdout, stderr, done };
}

async function submit(script: string, ...options: string[]): Promise<string> {
  const r = await cli('task', TEST_IMAGE, '--json', ...options, '--', 'sh', '-c', script);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { taskId: string }).taskId;
}

async function statusOf(taskId: string): Promise<string> {
  const r = await cli('status', taskId, '--json');
  expect(r.code).toBe(0);
  return String((JSON.parse(r.stdout) as { status: string }).status);
}

/** What StreamLogs has stored for a task right now (no follow). */
async function stored(taskId: string): Promise<{ entries: LogEntry[]; outcome: TaskOutcome | undefined; text: string }> {
  const entries: LogEntry[] = [];
  let outcome: TaskOutcome | undefined;
  for await (const res of api.client.streamLogs(
    { taskId, afterPosition: 0, follow: false, streams: [], tailLines: 0, since: undefined },
  )) {
    if (res.entry) entries.push(res.entry);
    if (res.outcome) outcome = res.outcome;
  }
  return { entries, outcome, text: Buffer.concat(entries.map((e) => e.chunk!.data)).toString() };
}

/** Creates `go` in the task's output folder on its worker, which a task waiting on /output/go sees. */
async function letGo(taskId: string): Promise<void> {
  const workers = join(cluster.dataDir.path, 'worker');
  for (const worker of await readdir(workers)) {
    const outputs = join(workers, worker, 'outputs');
    const folder = (await readdir(outputs).catch(() => [])).find((name) => name.startsWith(`${taskId}-`));
    if (folder) return writeFile(join(outputs, folder, 'go'), '');
  }
  throw new Error(`no output folder of ${taskId} under ${workers}`);
}

function lines(n: number, prefix = 'line'): string {
  return Array.from({ length: n }, (_, i) => `${prefix}${i + 1}\n`).join('');
}

/** The closing line `monitor` prints on stderr for a task that ended. */
/** monitor's stderr without the task's events, which it interleaves there ("[cloudai] 12:00:01 started on w-1"). */
function withoutEvents(stderr: string): string {
  return stderr.replace(/^\[cloudai\] \d\d:\d\d:\d\d .*\n/gm, '');
}

function closing(taskId: string, status: string): RegExp {
  return new RegExp(`^--- ${taskId} ${status}( exit \\d+)? \\(.* of log.*\\)`, 'm');
}

describe('cloudai monitor', () => {
  it('prints the exact stdout of a finished task and exits 0 with a closing line on stderr', async () => {
    const id = await submit('echo hello; echo world');
    expect((await cli('wait', id)).code).toBe(0);
    const r = await cli('monitor', id);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hello\nworld\n');
    expect(r.stderr).toMatch(closing(id, 'SUCCEEDED exit 0'));
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^--- /);
    // The `logs` alias and --no-follow give the same.
    const again = await cli('logs', id, '--no-follow');
    expect(again.stdout).toBe('hello\nworld\n');
  });

  it('routes the task stdout to stdout and its stderr to stderr; a failed task exits non-zero', async () => {
    const id = await submit('echo to-out; echo to-err >&2; echo out-2; echo err-2 >&2; exit 3');
    await cli('wait', id);
    const r = await cli('monitor', id);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('to-out\nout-2\n');
    expect(withoutEvents(r.stderr).startsWith('to-err\nerr-2\n')).toBe(true);
    expect(r.stderr).toMatch(closing(id, 'FAILED exit 3'));
    // One stream at a time.
    expect((await cli('monitor', id, '--stdout')).stdout).toBe('to-out\nout-2\n');
    const errOnly = await cli('monitor', id, '--stderr');
    expect(errOnly.stdout).toBe('');
    expect(withoutEvents(errOnly.stderr).startsWith('to-err\nerr-2\n')).toBe(true);
    // --tail picks the last lines.
    expect((await cli('monitor', id, '--stdout', '--tail', '1')).stdout).toBe('out-2\n');
  });

  it('follows a running task to its end, printing every line once', async () => {
    const id = await submit('for i in $(seq 1 30); do echo line$i; sleep 0.1; done');
    // Start following as soon as it runs, so most lines arrive while following.
    await waitFor(async () => ((await statusOf(id)) === 'RUNNING' ? true : undefined), { what: `${id} to run` });
    const r = await cli('monitor', id);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(lines(30));
    expect(r.stderr).toMatch(closing(id, 'SUCCEEDED exit 0'));
  });

  it('passes binary bytes and carriage returns through unchanged', async () => {
    const id = await submit("printf 'a\\000b\\377c\\r\\nprogress 50%%\\rprogress 100%%\\r\\n'; printf '\\033[31mred\\033[0m\\n'");
    await cli('wait', id);
    const expected = Buffer.concat([
      Buffer.from([0x61, 0x00, 0x62, 0xff, 0x63, 0x0d, 0x0a]),
      Buffer.from('progress 50%\rprogress 100%\r\n\u001b[31mred\u001b[0m\n', 'latin1'),
    ]);
    const r = await cliRaw('monitor', id).done;
    expect(r.code).toBe(0);
    expect(r.stdout.toString('hex')).toBe(expected.toString('hex'));
    // The API hands out the same bytes.
    const s = await stored(id);
    expect(Buffer.concat(s.entries.map((e) => e.chunk!.data)).toString('hex')).toBe(expected.toString('hex'));
    expect(s.outcome!.logBytes).toBe(expected.byteLength);
  });
});

describe('the per-task log cap', () => {
  it('prints the first 64 KiB, a truncation marker and the count of dropped bytes', async () => {
    const total = 200_000;
    const id = await submit(`head -c ${total} /dev/zero | tr '\\000' x; echo; echo done >&2`);
    await cli('wait', id);
    const r = await cliRaw('monitor', id).done;
    expect(r.code).toBe(0);
    expect(r.stdout.equals(Buffer.alloc(CAP, 'x'))).toBe(true);
    expect(r.stderr).toMatch(/^\[cloudai\] log truncated/m);
    const dropped = /, (\d+) bytes dropped\)/.exec(r.stderr);
    expect(Number(dropped?.[1])).toBeGreaterThanOrEqual(total + 1 + 'done\n'.length - CAP);
    expect(r.stderr).toMatch(closing(id, 'SUCCEEDED exit 0'));
    const s = await stored(id);
    expect(s.outcome!.logBytes).toBe(CAP);
    expect(s.entries.filter((e) => e.marker)).toHaveLength(1);
  });
});

describe('the log through a master restart', () => {
  it.each(['SIGTERM', 'SIGKILL'] as const)(
    'a following `cloudai monitor` gets every line exactly once across a master %s',
    async (signal) => {
      const n = 60;
      // The task holds after line 10 until the test lets it go, so the restart lands mid-task however slow the machine.
      const id = await submit(
        `for i in $(seq 1 ${n}); do echo line$i; if [ $i = 10 ]; then until [ -e /output/go ]; do sleep 0.05; done; fi; sleep 0.05; done`,
      );
      await waitFor(async () => ((await statusOf(id)) === 'RUNNING' ? true : undefined), { what: `${id} to run` });
      const monitor = cliRaw('monitor', id);
      await waitFor(() => (Buffer.concat(monitor.stdout).toString().split('\n').length > 5 ? true : undefined), {
        what: 'the monitor to print a few lines',
      });

      const old = cluster.apps.get('master')!;
      await stopApp(old, signal);
      // The restart really is mid-task: the monitor had not got the whole log yet.
      const printedBeforeRestart = Buffer.concat(monitor.stdout).toString();
      expect(printedBeforeRestart.length).toBeLessThan(lines(n).length);
      expect(monitor.child.exitCode).toBeNull();
      const restarted = await startApp('master', 'master', {
        CLOUDAI_DATA_DIR: cluster.dataDir.path,
        CLOUDAI_STORAGE: cluster.storageAddr,
        WORKER_HEARTBEAT_MS: '500',
        ...masterEnv,
      });
      cluster.apps.set('master', restarted);
      expect(String(restarted.readyLine.address)).toBe(cluster.masterAddr);
      await letGo(id);

      const r = await monitor.done;
      expect(r.stdout.toString()).toBe(lines(n));
      expect(r.stderr).toMatch(/lost contact with the master/);
      expect(r.stderr).toMatch(closing(id, 'SUCCEEDED exit 0'));
      expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(closing(id, 'SUCCEEDED exit 0'));
      expect(r.code).toBe(0);
      // And the stored log agrees.
      expect((await stored(id)).text).toBe(lines(n));
    },
    120_000,
  );
});

// Last: it leaves the cluster without a worker.
describe('the log through a worker crash', () => {
  it('keeps every line shipped before `kill -9` of the worker readable', async () => {
    const id = await submit('for i in $(seq 1 300); do echo line$i; sleep 0.1; done');
    const before = await waitFor(
      async () => {
        const s = await stored(id);
        return s.text.split('\n').length > 10 ? s : undefined;
      },
      { what: 'some lines to be stored' },
    );
    const worker = cluster.apps.get('worker-1')!;
    worker.child.kill('SIGKILL');
    await worker.exited;

    const r = await cli('monitor', id, '--no-follow');
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith(before.text)).toBe(true);
    // Whatever was stored is whole lines of the task, in order, each once.
    expect(lines(300).startsWith(r.stdout)).toBe(true);
    expect(r.stderr).toMatch(new RegExp(`^--- ${id} is still `, 'm'));
    await removeContainersLabelled(docker, `cloudai.task_id=${id}`);
  });
});

// The same checks at the API level, so a CLI bug and a master bug are told apart.
describe('StreamLogs over the cluster', () => {
  it('answers for a finished task at once with its stdout and stderr in order and the outcome', async () => {
    // Reads the task `exit 3` from above; only the master is needed, so the lost worker does not matter.
    const { tasks } = await api.client.listTasks({ statuses: [], taskName: '', limit: 50, pageToken: '' });
    const finished = tasks.find((t) => t.exitCode === 3);
    expect(finished).toBeDefined();
    const s = await stored(finished!.taskId);
    const byStream = (stream: LogStream) =>
      Buffer.concat(s.entries.filter((e) => e.chunk!.stream === stream).map((e) => e.chunk!.data)).toString();
    expect(byStream(LogStream.LOG_STREAM_STDOUT)).toBe('to-out\nout-2\n');
    expect(byStream(LogStream.LOG_STREAM_STDERR)).toBe('to-err\nerr-2\n');
    expect(s.outcome).toMatchObject({ exitCode: 3, logBytes: 26, purged: false });
  });
});
