import type { EventJson } from '@cloudai/rpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  removeContainersLabelled,
  requireDocker,
  startCluster,
  TEST_IMAGE,
  waitFor,
  type CliResult,
  type LocalCluster,
} from '@cloudai/testing';

// `cloudai events` and `cloudai monitor` tell a task's whole life, retry
// included, driven through the built binary against real processes.

let docker: Awaited<ReturnType<typeof requireDocker>>;
let cluster: LocalCluster;
/** as user e2e */
let cli: (...args: string[]) => Promise<CliResult>;
let asAdmin: (...args: string[]) => Promise<CliResult>;

beforeAll(async () => {
  docker = await requireDocker();
  cluster = await startCluster({
    workers: 2,
    // A killed worker is LOST (and its task retried) within seconds.
    masterEnv: { WORKER_TTL_MS: '1500' },
    workerEnv: () => ({ WORKER_CPU: '2', WORKER_MEMORY_GB: '2', WORKER_STORAGE_GB: '10' }),
  });
  cli = (...args) => cluster.cli(args, { TZ: 'UTC' });
  asAdmin = (...args) => cluster.cli(args, { TZ: 'UTC', CLOUDAI_TOKEN: cluster.adminToken });
}, 120_000);

afterAll(async () => {
  // The killed worker's container outlives it.
  for (const i of [1, 2]) await removeContainersLabelled(docker, `cloudai.worker_id=${cluster?.workerId(i)}`);
  await cluster?.stop();
});

async function submit(...args: string[]): Promise<string> {
  const r = await cli('task', '--json', ...args);
  expect(r.stderr).toBe('');
  return (JSON.parse(r.stdout) as { taskId: string }).taskId;
}

async function status(taskId: string): Promise<{ status: string; workerId: string | null }> {
  const r = await cli('status', taskId, '--json');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { status: string; workerId: string | null };
}

async function eventsOf(run: typeof cli, ...args: string[]): Promise<EventJson[]> {
  const r = await run('events', '--json', ...args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as EventJson);
}

describe('cloudai events', () => {
  it("shows a task's whole life, with the retry after its worker was killed", async () => {
    const id = await submit(TEST_IMAGE, '--', 'sh', '-c', 'sleep 3; echo trained > /output/model.txt; echo finished');
    const first = await waitFor(
      async () => {
        const s = await status(id);
        return s.status === 'RUNNING' ? s.workerId : undefined;
      },
      { what: `${id} to run`, timeoutMs: 60_000 },
    );
    const i = first === cluster.workerId(1) ? 1 : 2;
    const other = cluster.workerId(3 - i);
    const worker = cluster.apps.get(`worker-${i}`)!;
    // kill -9 of the worker running it.
    worker.child.kill('SIGKILL');
    await worker.exited;

    expect((await cli('wait', id, '--timeout', '120')).code).toBe(0);
    const life = await waitFor(
      async () => {
        const found = await eventsOf(cli, '--task', id);
        return found.some((e) => e.kind === 'task.succeeded') ? found : undefined;
      },
      { what: `the events of ${id} through its success` },
    );
    expect(life.map((e) => [e.kind, e.workerId, e.attempt])).toEqual([
      ['task.queued', null, 0],
      ['task.scheduled', first, 1],
      ['task.started', first, 1],
      ['task.retried', first, 1],
      ['task.scheduled', other, 2],
      ['task.started', other, 2],
      ['task.uploading', other, 2],
      ['task.outputs_stored', other, 2],
      ['task.succeeded', other, 2],
    ]);
    for (const e of life) expect(e).toMatchObject({ taskId: id, userId: 'e2e' });
    expect(life[3]!.reason).toMatch(new RegExp(`^worker ${first} was lost \\(no heartbeat for 2 s\\); will retry \\(attempt 2 of 3\\)$`));
    expect(life[6]!.message).toBe('uploading 8 B (1 file)');
    expect(life[7]!.message).toMatch(/^stored 1 file \(8 B\) in \d+\.\d s$/);
    expect(life[8]!.message).toBe('succeeded (exit 0)');
    const seqs = life.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    // The same, for people.
    const human = await cli('events', '--task', id);
    expect(human.code).toBe(0);
    expect(human.stdout.trimEnd().split('\n')).toHaveLength(life.length);
    expect(human.stdout).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  task\\.retried +${id}  taken back from ${first}; queued for another attempt: worker ${first} was lost`, 'm'));

    // monitor: the log byte for byte on stdout, the task's life on stderr, in time with it.
    const monitored = await cli('monitor', id);
    expect(monitored.code).toBe(0);
    expect(monitored.stdout).toBe('finished\n');
    const stderr = monitored.stderr.trimEnd().split('\n');
    expect(stderr.map((l) => l.replace(/^\[cloudai\] \d\d:\d\d:\d\d /, '[cloudai] '))).toEqual([
      '[cloudai] queued (cloudai-test/busybox:1)',
      `[cloudai] scheduled on ${first} (attempt 1)`,
      `[cloudai] started on ${first}`,
      `[cloudai] taken back from ${first}; queued for another attempt: ${life[3]!.reason}`,
      `[cloudai] scheduled on ${other} (attempt 2)`,
      `[cloudai] started on ${other}`,
      '[cloudai] uploading 8 B (1 file)',
      `[cloudai] ${life[7]!.message}`,
      '[cloudai] succeeded (exit 0)',
      expect.stringMatching(new RegExp(`^--- ${id} SUCCEEDED exit 0 \\(`)),
    ]);

    // The worker's side is for admins: its loss, and its tasks' moves.
    const onWorker = await eventsOf(asAdmin, '--worker', first!);
    expect(onWorker.map((e) => e.kind)).toEqual(expect.arrayContaining(['worker.registered', 'worker.lost', 'task.retried']));
    expect(onWorker.find((e) => e.kind === 'worker.lost')!.reason).toBe('no heartbeat for 2 s');
    // A user sees their task's moves on that worker, never the worker's own events.
    const usersView = await eventsOf(cli, '--worker', first!);
    expect(usersView.map((e) => e.kind)).toEqual(['task.scheduled', 'task.started', 'task.retried']);

    // An admin deleting the user's outputs is recorded, and the owner sees it.
    expect((await asAdmin('files', 'rm', id)).code).toBe(0);
    const deleted = await waitFor(async () => (await eventsOf(cli, '--task', id)).find((e) => e.kind === 'files.deleted_by_admin'), {
      what: 'the admin delete event',
    });
    expect(deleted).toMatchObject({ actor: 'admin', userId: 'e2e', message: "admin admin deleted 1 output file (8 B) of e2e's task" });
  }, 180_000);

  it('tells that the worker is pulling an image it does not have, then why the task failed', async () => {
    const id = await submit('cloudai-test/not-in-any-registry:1', '--', 'true');
    await cli('wait', id, '--timeout', '120');
    const life = await waitFor(
      async () => {
        const found = await eventsOf(cli, '--task', id);
        return found.some((e) => e.kind === 'task.failed') ? found : undefined;
      },
      { what: `the events of ${id} through its failure` },
    );
    expect(life.map((e) => e.kind)).toEqual(['task.queued', 'task.scheduled', 'task.pulling_image', 'task.failed']);
    expect(life[2]!.message).toBe('pulling image cloudai-test/not-in-any-registry:1');
    expect(life[3]!.reason).toMatch(/^image cloudai-test\/not-in-any-registry:1 is not available locally and could not be pulled: /);
  }, 180_000);
});
