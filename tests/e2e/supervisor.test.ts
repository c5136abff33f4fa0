import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  removeContainersLabelled,
  REPO_ROOT,
  requireDocker,
  runCli,
  tempDir,
  TEST_IMAGE,
  waitFor,
  type TempDir,
} from '@cloudai/testing';
import { isTerminal, type TaskStatus } from '@cloudai/domain';

// `pnpm start` as a user runs it: scripts/start-cluster.mjs supervising a
// master, storage, a scheduler and workers as processes of its own, each
// killed here with kill -9 the way the issue's user did.

const START_CLUSTER = join(REPO_ROOT, 'scripts', 'start-cluster.mjs');
/** The label a worker puts on its task containers, with its id (apps/worker/src/docker-executor.ts). */
const WORKER_LABEL = 'cloudai.worker_id';
const TASK_LABEL = 'cloudai.task_id';

/** One line of the supervisor's output: `[name] text`, with text parsed when it is an app's NDJSON. */
interface Line {
  from: string;
  text: string;
  log?: { pid?: number; msg?: string; workerId?: string };
}

interface Supervisor {
  child: ChildProcess;
  lines: Line[];
  masterAddr: string;
  /** the id of worker-`i` (from 1), which its task containers are labelled with */
  workerId(i: number): string;
  adminToken(): Promise<string>;
  exited: Promise<number | string>;
  /** resolves with the first line (seen so far or later) that `match` accepts */
  line(what: string, match: (l: Line) => boolean, timeoutMs?: number): Promise<Line>;
}

async function startSupervisor(data: TempDir, workers: number): Promise<Supervisor> {
  const masterAddr = `127.0.0.1:${await freePort()}`;
  const workerIdPrefix = `sup-${process.pid}-${Date.now().toString(36)}`;
  const child = spawn(process.execPath, [START_CLUSTER], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      // The profile `pnpm start` saves lands here, not in the machine's CLI config.
      XDG_CONFIG_HOME: join(data.path, 'config'),
      CLOUDAI_DATA_DIR: data.path,
      CLOUDAI_WORKERS: String(workers),
      CLOUDAI_MASTER: masterAddr,
      CLOUDAI_STORAGE: `127.0.0.1:${await freePort()}`,
      WEB_LISTEN_ADDR: `127.0.0.1:${await freePort()}`,
      // Unique worker ids: a worker removes the containers labelled with its id when it starts.
      WORKER_ID: workerIdPrefix,
      LOG_PRETTY: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  const waiting = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (raw) => {
      const m = /^\[([a-z0-9-]+)\] (.*)$/.exec(raw);
      const line: Line = m ? { from: m[1]!, text: m[2]! } : { from: '', text: raw };
      if (line.text.startsWith('{')) {
        try {
          line.log = JSON.parse(line.text) as Line['log'];
        } catch {
          // a line an app printed that is not its NDJSON
        }
      }
      lines.push(line);
      for (const wake of waiting) wake();
    });
  }
  const exited = new Promise<number | string>((res) => child.once('exit', (code, signal) => res(code ?? signal ?? -1)));
  return {
    child,
    lines,
    masterAddr,
    // As scripts/start-cluster.mjs names them.
    workerId: (i) => (workers === 1 ? workerIdPrefix : `${workerIdPrefix}-${i}`),
    adminToken: async () => (await readFile(join(data.path, 'master', 'bootstrap-token'), 'utf8')).trim(),
    exited,
    line: (what, match, timeoutMs = 60_000) =>
      new Promise((res, rej) => {
        const check = (): boolean => {
          const found = lines.find(match);
          if (found) {
            cleanup();
            res(found);
          }
          return found !== undefined;
        };
        const timer = setTimeout(() => {
          cleanup();
          rej(new Error(`no line ${what} within ${timeoutMs} ms; last lines:\n${lines.slice(-15).map((l) => `[${l.from}] ${l.text}`).join('\n')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiting.delete(wake);
        };
        const wake = () => void check();
        if (!check()) waiting.add(wake);
      }),
  };
}

const logged = (from: string, msg: string) => (l: Line) => l.from === from && l.log?.msg === msg;

/** The app's pid now, from the last line it logged (an earlier try of a test may have restarted it). */
function pidOf(s: Supervisor, from: string): number {
  const pid = s.lines.findLast((l) => l.from === from && l.log?.pid !== undefined)?.log?.pid;
  if (pid === undefined) throw new Error(`${from} has logged nothing yet`);
  return pid;
}

/** Running, as opposed to gone or a zombie nobody reaped yet (which holds no port and runs nothing). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The processes whose parent is `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return children;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

describe('pnpm start (scripts/start-cluster.mjs) as a supervisor', () => {
  let docker: Awaited<ReturnType<typeof requireDocker>>;
  let data: TempDir;
  let s: Supervisor;
  let cli: (...args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

  beforeAll(async () => {
    if (!existsSync(START_CLUSTER)) throw new Error(`${START_CLUSTER} is missing`);
    docker = await requireDocker();
    data = await tempDir('cloudai-supervisor-');
    s = await startSupervisor(data, 2);
    await s.line('of worker-1 registering', logged('worker-1', 'registered with the master'));
    await s.line('of worker-2 registering', logged('worker-2', 'registered with the master'));
    await s.line('of the scheduler listening', logged('scheduler', 'scheduler listening'));
    const token = await s.adminToken();
    cli = (...args) => runCli(['--master', s.masterAddr, ...args], { CLOUDAI_TOKEN: token });
  });

  afterAll(async () => {
    if (s && s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
    // Should a test have failed because apps outlived the supervisor, they must not outlive the test run.
    for (const pid of new Set(s?.lines.map((l) => l.log?.pid))) {
      if (pid !== undefined && running(pid) && /apps\/\w+\/dist\/main\.js/.test(cmdline(pid))) process.kill(pid, 'SIGKILL');
    }
    // And the task containers such a worker left.
    if (s) for (const i of [1, 2]) await removeContainersLabelled(docker, `${WORKER_LABEL}=${s.workerId(i)}`);
    await data?.remove();
  });

  async function status(taskId: string): Promise<{ status: string; attempt: number; workerId: string; exitCode?: number }> {
    const r = await cli('status', taskId, '--json');
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { status: string; attempt: number; workerId: string; exitCode?: number };
  }

  it('restarts a worker killed with kill -9, while a task keeps running on the other worker', async () => {
    const from = s.lines.length;
    const worker2Id = String((await s.line('of worker-2 starting', logged('worker-2', 'worker started'))).log?.workerId);
    const submitted = await cli('dispatch', worker2Id, TEST_IMAGE, '--json', '--', 'sh', '-c', 'sleep 8; echo done');
    expect(submitted.stderr).toBe('');
    const { taskId } = JSON.parse(submitted.stdout) as { taskId: string };
    await waitFor(async () => ((await status(taskId)).status === 'RUNNING' ? true : undefined), { what: 'the task to run' });

    const killed = pidOf(s, 'worker-1');
    process.kill(killed, 'SIGKILL');
    const crash = await s.line('of the supervisor restarting worker-1', (l) => l.from === 'supervisor' && l.text.includes('worker-1 (pid'));
    expect(crash.text).toMatch(new RegExp(`^worker-1 \\(pid ${killed}\\) crashed: exited with signal SIGKILL after [\\d.]+ s up; restarting it in 0\\.5 s$`));
    // A new worker-1 process registers with the master.
    const back = await s.line(
      'of a new worker-1 registering',
      (l) => l.from === 'worker-1' && l.log?.msg === 'registered with the master' && l.log.pid !== killed,
    );
    expect(running(back.log!.pid!)).toBe(true);
    expect(running(killed)).toBe(false);

    // The other worker's task was never disturbed: it ran on to success on its first attempt.
    expect((await status(taskId)).status).toBe('RUNNING');
    // UPLOADING comes between RUNNING and the end; wait for the end itself.
    const done = await waitFor(
      async () => {
        const st = await status(taskId);
        return isTerminal(st.status as TaskStatus) ? st : undefined;
      },
      { what: 'the task to finish', timeoutMs: 60_000 },
    );
    expect(done).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, attempt: 1, workerId: worker2Id });
    // And the rest of the cluster never stopped.
    expect(s.lines.slice(from).filter((l) => l.from === 'supervisor' && l.text.includes('crashed'))).toHaveLength(1);
  });

  it('restarts a master killed with kill -9; the workers and the scheduler carry on with the new one', async () => {
    const killed = pidOf(s, 'master');
    process.kill(killed, 'SIGKILL');
    await s.line('of the supervisor restarting the master', (l) => l.from === 'supervisor' && l.text.startsWith(`master (pid ${killed}) crashed`));
    await s.line('of a new master listening', (l) => l.from === 'master' && l.log?.msg === 'master listening' && l.log.pid !== killed);
    // Placed by the scheduler and run by a worker, all of them talking to the new master.
    const submitted = await cli('task', TEST_IMAGE, '--json', '--', 'sh', '-c', 'echo after the restart');
    expect(submitted.stderr).toBe('');
    const { taskId } = JSON.parse(submitted.stdout) as { taskId: string };
    const waited = await cli('wait', taskId);
    expect(waited.code).toBe(0);
    expect((await status(taskId)).status).toBe('SUCCEEDED');
  });

  it('killed itself with kill -9 while a task runs, leaves no app and no task container of its cluster within 5 s', async () => {
    // A running task is what makes a worker slow to stop: its graceful stop
    // gives the task its grace, then reports to a master that is gone too.
    const submitted = await cli('dispatch', s.workerId(2), TEST_IMAGE, '--json', '--', 'sleep', '600');
    expect(submitted.stderr).toBe('');
    const { taskId } = JSON.parse(submitted.stdout) as { taskId: string };
    await waitFor(async () => ((await status(taskId)).status === 'RUNNING' ? true : undefined), { what: 'the task to run' });
    const containers = async () =>
      (
        await Promise.all(
          [1, 2].map((i) => docker.listContainers({ all: true, filters: { label: [`${WORKER_LABEL}=${s.workerId(i)}`] } })),
        )
      ).flat();
    // This task's container (an earlier try of a test may have left another, which must go too).
    expect((await containers()).filter((c) => c.Labels[TASK_LABEL] === taskId)).toHaveLength(1);

    const apps = childrenOf(s.child.pid!);
    expect(apps.map(cmdline).map((c) => /apps\/(\w+)\/dist\/main\.js/.exec(c)?.[1]).sort()).toEqual([
      'master',
      'scheduler',
      'storage',
      'web',
      'worker',
      'worker',
    ]);
    s.child.kill('SIGKILL');
    await s.exited;
    await waitFor(async () => (apps.some(running) || (await containers()).length > 0 ? undefined : true), {
      what: 'every app to exit and its task container to go',
      timeoutMs: 5_000,
    }).catch(async (err: unknown) => {
      const left = (await containers()).map((c) => c.Names.join(','));
      throw new Error(`${(err as Error).message}; still running: apps ${apps.filter(running).join(', ') || 'none'}, containers ${left.join(' ') || 'none'}`);
    });
  });
});

describe('pnpm start on SIGTERM', () => {
  it('stops the web console, then the scheduler, then the workers, then the master, then storage, and exits 0', async () => {
    await requireDocker();
    const data = await tempDir('cloudai-supervisor-');
    const s = await startSupervisor(data, 1);
    try {
      await s.line('of worker-1 registering', logged('worker-1', 'registered with the master'));
      await s.line('of the scheduler listening', logged('scheduler', 'scheduler listening'));
      await s.line('of storage listening', logged('storage', 'storage listening'));
      await s.line('of the console URL', (l) => l.text.startsWith('cloudai: console on http://127.0.0.1:'));
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      const stops = s.lines.filter((l) => l.from === 'supervisor' && l.text.includes(' stopped ('));
      expect(stops.map((l) => l.text)).toEqual([
        'web stopped (code 0)',
        'scheduler stopped (code 0)',
        'worker-1 stopped (code 0)',
        'master stopped (code 0)',
        'storage stopped (code 0)',
      ]);
    } finally {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
      await data.remove();
    }
  });
});
