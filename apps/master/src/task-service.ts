import { TASK_STATUSES, type TaskStatus } from '@cloudai/domain';
import type { SubmitTaskResponse, TaskServiceImplementation, TaskSpec } from '@cloudai/proto';
import { invalidArgument, resourcesFromProto, statusFromProto } from '@cloudai/rpc';
import { ServerError, Status } from 'nice-grpc';
import { callerOf } from './caller.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import type { SpecInput, TaskManager } from './task-manager.js';
import { taskToProto, workerToProto } from './to-proto.js';
import type { WorkerRegistry } from './worker-registry.js';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;

function specInput(spec: TaskSpec | undefined): SpecInput {
  if (!spec) throw invalidArgument('spec is required');
  return {
    image: spec.image,
    command: spec.command,
    env: spec.env,
    resources: resourcesFromProto(spec.resources),
    taskName: spec.taskName,
    timeoutSeconds: spec.timeoutSeconds,
    network: spec.network,
  };
}

function requireId(value: string, field: string): string {
  if (!value) throw invalidArgument(`${field} is required`);
  if (value.length > 128) throw invalidArgument(`${field} must be at most 128 characters`);
  return value;
}

/** The public API the CLI drives. Handlers validate, then delegate. */
export function taskService(tasks: TaskManager, workers: WorkerRegistry): TaskServiceImplementation {
  const notYet = (what: string, issue: string) => async (): Promise<never> => {
    throw new ServerError(Status.UNIMPLEMENTED, `${what} is not available in this version of cloudai (${issue})`);
  };

  return {
    async submitTask(req, context): Promise<SubmitTaskResponse> {
      const user = callerOf(context);
      const { task } = await tasks.submit(user, specInput(req.spec), { idempotencyKey: req.idempotencyKey || undefined });
      return { task: taskToProto(task) };
    },

    async dispatchTask(req, context): Promise<SubmitTaskResponse> {
      const user = callerOf(context);
      const workerId = requireId(req.workerId, 'worker_id');
      const { task } = await tasks.submit(user, specInput(req.spec), {
        idempotencyKey: req.idempotencyKey || undefined,
        pinnedWorkerId: workerId,
      });
      return { task: taskToProto(task) };
    },

    async getTask(req, context) {
      const task = await tasks.get(callerOf(context), requireId(req.taskId, 'task_id'));
      return { task: taskToProto(task) };
    },

    async listTasks(req, context) {
      const user = callerOf(context);
      const statuses = req.statuses.map((s, i): TaskStatus => {
        const status = statusFromProto(s);
        if (!status) throw invalidArgument(`statuses[${i}] must be one of ${TASK_STATUSES.join(', ')}`);
        return status;
      });
      if (req.limit > MAX_LIMIT) throw invalidArgument(`limit must be <= ${MAX_LIMIT}, got ${req.limit}`);
      if (req.taskName.length > 200) throw invalidArgument('task_name must be at most 200 characters');
      const limit = req.limit || DEFAULT_LIMIT;
      const found = await tasks.list({
        userId: user,
        statuses: statuses.length ? statuses : undefined,
        taskName: req.taskName || undefined,
        submittedAfter: req.submittedAfter,
        submittedBefore: req.submittedBefore,
        before: req.pageToken ? decodePageToken(req.pageToken) : undefined,
        limit: limit + 1,
      });
      const page = found.slice(0, limit);
      const last = page[page.length - 1];
      return {
        tasks: page.map(taskToProto),
        nextPageToken: found.length > limit && last ? encodePageToken(last.submittedAt, last.taskId) : '',
      };
    },

    async cancelTask(req, context) {
      if (req.reason.length > 500) throw invalidArgument('reason must be at most 500 characters');
      const task = await tasks.cancel(callerOf(context), requireId(req.taskId, 'task_id'), req.reason);
      return { task: taskToProto(task) };
    },

    async listWorkers(req) {
      const list = await workers.list(req.includeLost);
      return { workers: list.map(({ worker, taskIds }) => workerToProto(worker, taskIds)) };
    },

    async drainWorker(req) {
      const worker = await workers.drain(requireId(req.workerId, 'worker_id'), req.drain);
      const list = await workers.list(true);
      return { worker: workerToProto(worker, list.find((w) => w.worker.workerId === worker.workerId)?.taskIds ?? []) };
    },

    // eslint-disable-next-line require-yield
    async *streamLogs() {
      throw new ServerError(Status.UNIMPLEMENTED, 'log streaming is not available in this version of cloudai (issue 3)');
    },
    listFiles: notYet('listing output files', 'issue 4'),
    // eslint-disable-next-line require-yield
    async *downloadFiles() {
      throw new ServerError(Status.UNIMPLEMENTED, 'downloading output files is not available in this version of cloudai (issue 4)');
    },
    deleteFiles: notYet('deleting output files', 'issue 4'),
  };
}
