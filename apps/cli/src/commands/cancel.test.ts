import { TaskStatus, type CancelTaskRequest } from '@cloudai/proto';
import { Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { failWith, makeTask, bearer } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();

describe('cloudai cancel', () => {
  it('cancels the task and prints its resulting status', async () => {
    master.setHandlers({
      cancelTask: async (req) => ({
        task: makeTask({ taskId: req.taskId, status: TaskStatus.TASK_STATUS_CANCELLED, reason: 'cancelled by alice' }),
      }),
    });
    const res = await runCli(['cancel', 'task-9'], env);
    expect(res.code).toBe(0);
    const calls = master.callsTo('cancelTask');
    expect(calls).toHaveLength(1);
    expect((calls[0]!.request as CancelTaskRequest).taskId).toBe('task-9');
    // The master names the canceller from the token; the CLI no longer knows a user name.
    expect((calls[0]!.request as CancelTaskRequest).reason).toBe('');
    expect(calls[0]!.authorization).toBe(bearer());
    expect(res.stdout).toBe('task-9 CANCELLED: cancelled by alice\n');
  });

  it('--json prints the cancelled task', async () => {
    master.setHandlers({
      cancelTask: async (req) => ({ task: makeTask({ taskId: req.taskId, status: TaskStatus.TASK_STATUS_CANCELLED }) }),
    });
    const res = await runCli(['cancel', 'task-9', '--json'], env);
    expect(JSON.parse(res.stdout)).toMatchObject({ taskId: 'task-9', status: 'CANCELLED' });
  });

  it('a task that already finished is one line and exit 1', async () => {
    master.setHandlers({ cancelTask: failWith(Status.FAILED_PRECONDITION, 'task task-9 already SUCCEEDED') });
    const res = await runCli(['cancel', 'task-9'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: task task-9 already SUCCEEDED\n');
  });

  it('rejects an id with spaces before calling the master', async () => {
    const res = await runCli(['cancel', 'task 9'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: <task-id> must be printable characters without spaces\n');
    expect(master.calls).toHaveLength(0);
  });
});
