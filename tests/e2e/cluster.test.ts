import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireDocker, startCluster, TEST_IMAGE, waitFor, type CliResult, type LocalCluster } from '@cloudai/testing';

// The "tried as a new user would" checks, driven through the built
// `cloudai` binary against real master, scheduler, storage and worker
// processes and the real Docker engine.

let cluster: LocalCluster;
let cli: (...args: string[]) => Promise<CliResult>;

beforeAll(async () => {
  await requireDocker();
  cluster = await startCluster({
    workers: 1,
    // A modest, fixed worker so the memory test does not depend on the host.
    workerEnv: () => ({ WORKER_CPU: '4', WORKER_MEMORY_GB: '4', WORKER_STORAGE_GB: '20' }),
  });
  cli = (...args) => cluster.cli(args);
});

afterAll(async () => {
  await cluster?.stop();
});

async function submit(...args: string[]): Promise<string> {
  const r = await cli('task', TEST_IMAGE, '--json', ...args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { taskId: string; taskName: string };
  expect(out.taskId).toMatch(/^[0-9a-f-]{36}$/);
  return out.taskId;
}

async function status(taskId: string): Promise<Record<string, unknown>> {
  const r = await cli('status', taskId, '--json');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('a task from the CLI to the container and back', () => {
  it('runs `sh -c "echo hi"` to SUCCEEDED with exit code 0', async () => {
    const id = await submit('--', 'sh', '-c', 'echo hi');
    const waited = await cli('wait', id);
    expect(waited.code).toBe(0);
    const s = await status(id);
    expect(s).toMatchObject({ taskId: id, status: 'SUCCEEDED', exitCode: 0, workerId: cluster.workerId(1), image: TEST_IMAGE });
    expect(s.startedAt).toEqual(expect.any(String));
    expect(s.finishedAt).toEqual(expect.any(String));
  });

  it('reports `exit 3` as FAILED with exit code 3, and `wait` exits non-zero', async () => {
    const id = await submit('--name', 'exits-three', '--', 'sh', '-c', 'exit 3');
    const waited = await cli('wait', id);
    expect(waited.code).not.toBe(0);
    const s = await status(id);
    expect(s).toMatchObject({ taskName: 'exits-three', status: 'FAILED', exitCode: 3 });
  });

  it('gives 50 tasks submitted at once 50 distinct ids, and all of them finish', async () => {
    const ids = await Promise.all(
      Array.from({ length: 50 }, (_, i) => submit('--cpu', '0.25', '--mem', '0.05', '--', 'sh', '-c', `echo ${i}`)),
    );
    expect(new Set(ids).size).toBe(50);
    await waitFor(
      async () => {
        const r = await cli('list', '--limit', '200', '--json');
        // A poll that fails under load (the machine runs other suites) is retried, not fatal.
        if (r.code !== 0) return undefined;
        const tasks = JSON.parse(r.stdout) as { taskId: string; status: string }[];
        const mine = tasks.filter((t) => ids.includes(t.taskId));
        return mine.length === 50 && mine.every((t) => t.status === 'SUCCEEDED') ? true : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1_000, what: '50 tasks to succeed' },
    );
  });

  it('keeps a task that needs more memory than any worker has QUEUED, with a reason naming memory', async () => {
    const id = await submit('--mem', '64', '--', 'true');
    const s = await waitFor(
      async () => {
        const cur = await status(id);
        return /memory/.test(String(cur.reason)) ? cur : undefined;
      },
      { timeoutMs: 20_000, what: 'an unplaced reason' },
    );
    expect(s.status).toBe('QUEUED');
    expect(String(s.reason)).toMatch(/64 GB/);
    const cancelled = await cli('cancel', id);
    expect(cancelled.code).toBe(0);
    expect((await status(id)).status).toBe('CANCELLED');
  });

  it('fails `dispatch` to an unknown worker with NOT_FOUND, storing nothing', async () => {
    const before = JSON.parse((await cli('list', '--limit', '1000', '--json')).stdout) as unknown[];
    const r = await cli('dispatch', 'no-such-worker', TEST_IMAGE, '--', 'true');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^error: .*no-such-worker.*not registered/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const after = JSON.parse((await cli('list', '--limit', '1000', '--json')).stdout) as unknown[];
    expect(after.length).toBe(before.length);
  });

  it('runs a dispatched task on the named worker', async () => {
    const r = await cli('dispatch', cluster.workerId(1), TEST_IMAGE, '--json', '--', 'sh', '-c', 'echo pinned');
    expect(r.code).toBe(0);
    const { taskId } = JSON.parse(r.stdout) as { taskId: string };
    expect((await cli('wait', taskId)).code).toBe(0);
    expect(await status(taskId)).toMatchObject({ status: 'SUCCEEDED', workerId: cluster.workerId(1) });
  });

  it('lists the worker with its capacity', async () => {
    const r = await cli('workers', '--json');
    expect(r.code).toBe(0);
    const workers = JSON.parse(r.stdout) as { workerId: string; state: string; capacity: { cpu: number; memoryGb: number } }[];
    expect(workers).toEqual([
      expect.objectContaining({ workerId: cluster.workerId(1), state: 'ALIVE', capacity: expect.objectContaining({ cpu: 4, memoryGb: 4 }) }),
    ]);
  });
});
