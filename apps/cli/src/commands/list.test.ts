import { TaskStatus, type ListTasksRequest } from '@cloudai/proto';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeTask } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();

const failed = makeTask({
  taskId: 'task-failed',
  taskName: 'train-1',
  status: TaskStatus.TASK_STATUS_FAILED,
  exitCode: 137,
  workerId: 'worker-1',
  reason: 'out of memory',
});
const succeeded = makeTask({
  taskId: 'task-ok',
  taskName: 'train-2',
  status: TaskStatus.TASK_STATUS_SUCCEEDED,
  exitCode: 0,
  workerId: 'worker-2',
});

describe('cloudai list', () => {
  beforeEach(() => master.setHandlers({ listTasks: async () => ({ tasks: [failed, succeeded], nextPageToken: '' }) }));

  it('sends every status from a comma-separated, any-case --status', async () => {
    const res = await runCli(['list', '--status', 'failed,Succeeded'], env);
    expect(res.code).toBe(0);
    const req = master.callsTo('listTasks')[0]!.request as ListTasksRequest;
    expect(req.statuses).toEqual([TaskStatus.TASK_STATUS_FAILED, TaskStatus.TASK_STATUS_SUCCEEDED]);
  });

  it('accumulates a repeated --status and sends --name and --limit', async () => {
    const res = await runCli(['list', '--status', 'queued', '--status', 'RUNNING,queued', '--name', 'train-1', '--limit', '5'], env);
    expect(res.code).toBe(0);
    const req = master.callsTo('listTasks')[0]!.request as ListTasksRequest;
    expect(req.statuses).toEqual([TaskStatus.TASK_STATUS_QUEUED, TaskStatus.TASK_STATUS_RUNNING]);
    expect(req.taskName).toBe('train-1');
    expect(req.limit).toBe(5);
  });

  it('sends no filters when none are given', async () => {
    await runCli(['list'], env);
    const req = master.callsTo('listTasks')[0]!.request as ListTasksRequest;
    expect(req.statuses).toEqual([]);
    expect(req.taskName).toBe('');
    expect(req.limit).toBe(0);
    expect(req.allUsers).toBe(false);
  });

  it("--all-users asks for everyone's tasks and adds a USER column", async () => {
    master.setHandlers({
      listTasks: async () => ({ tasks: [failed, { ...succeeded, userId: 'bob' }], nextPageToken: '' }),
    });
    const res = await runCli(['list', '--all-users'], env);
    expect(res.code).toBe(0);
    expect((master.callsTo('listTasks')[0]!.request as ListTasksRequest).allUsers).toBe(true);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TASK ID +NAME +USER +IMAGE +STATUS +EXIT +WORKER +SUBMITTED +AGE$/);
    expect(lines[1]).toMatch(/^task-failed +train-1 +alice +alpine:3\.20 +FAILED +137 +worker-1 /);
    expect(lines[2]).toMatch(/^task-ok +train-2 +bob +alpine:3\.20 +SUCCEEDED +0 +worker-2 /);
  });

  it('prints a table with one row per task', async () => {
    const res = await runCli(['list'], env);
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^TASK ID +NAME +IMAGE +STATUS +EXIT +WORKER +SUBMITTED +AGE$/);
    expect(lines[1]!.split(/ {2,}/)).toEqual([
      'task-failed',
      'train-1',
      'alpine:3.20',
      'FAILED',
      '137',
      'worker-1',
      '2025-01-01 12:00:00 UTC',
      expect.stringMatching(/^\d+d$/),
    ]);
    expect(lines[2]).toMatch(/^task-ok +train-2 +alpine:3\.20 +SUCCEEDED +0 +worker-2 /);
  });

  it('--json prints an array of task objects', async () => {
    const res = await runCli(['list', '--json'], env);
    expect(res.code).toBe(0);
    const tasks = JSON.parse(res.stdout) as { taskId: string; status: string; exitCode: number | null; reason: string }[];
    expect(tasks.map((t) => [t.taskId, t.status, t.exitCode, t.reason])).toEqual([
      ['task-failed', 'FAILED', 137, 'out of memory'],
      ['task-ok', 'SUCCEEDED', 0, ''],
    ]);
  });

  it('says so when nothing matches', async () => {
    master.setHandlers({ listTasks: async () => ({ tasks: [] }) });
    const res = await runCli(['list', '--status', 'running'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('No tasks found.\n');
  });

  it.each([
    [['--status', 'done'], '--status must be one of QUEUED, SCHEDULED, RUNNING, UPLOADING, SUCCEEDED, FAILED, CANCELLED, TIMED_OUT, got "done"'],
    [['--limit', '0'], '--limit must be a whole number >= 1, got "0"'],
    [['--limit', '1001'], '--limit must be <= 1000, got "1001"'],
  ])('rejects %j with exit 2, sending nothing', async (args, message) => {
    const res = await runCli(['list', ...args], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`error: ${message}\n`);
    expect(master.calls).toHaveLength(0);
  });
});
