import {
  formatBytes,
  isTerminal,
  MAX_OUTPUT_PATH_BYTES,
  TASK_STATUSES,
  taskNameSchema,
  type LogStreamName,
  type TaskStatus,
} from '@cloudai/domain';
import { TaskSortKey, type SubmitTaskResponse, type TaskServiceImplementation, type TaskSpec } from '@cloudai/proto';
import type { TaskOrder } from '@cloudai/store';
import {
  DomainError,
  failedPrecondition,
  invalidArgument,
  logStreamFromProto,
  logStreamToProto,
  resourcesFromProto,
  statusFromProto,
  statusToProto,
  timeFromProto,
} from '@cloudai/rpc';
import { Status } from 'nice-grpc';
import type { AuthContext } from './auth/principal.js';
import { userOf } from './caller.js';
import type { EventSink } from './event-sink.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { idField, typedText, workerIdField } from './request-fields.js';
import type { OutputFiles } from './output-files.js';
import type { SpecInput, TaskManager } from './task-manager.js';
import { DEFAULT_INDEX_EVERY_LINES } from './log-line-index.js';
import type { TaskLogs } from './task-logs.js';
import { taskToProto, workerToProto } from './to-proto.js';
import type { WorkerRegistry } from './worker-registry.js';

const DEFAULT_LIMIT = 50;
const MAX_TAIL_LINES = 1_000_000;
const MAX_LIMIT = 1000;
const MAX_INDEX_EVERY_LINES = 1_000_000;

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

const SORT_KEYS: Record<TaskSortKey, TaskOrder['key'] | undefined> = {
  [TaskSortKey.TASK_SORT_KEY_UNSPECIFIED]: 'submittedAt',
  [TaskSortKey.TASK_SORT_KEY_SUBMITTED_AT]: 'submittedAt',
  [TaskSortKey.TASK_SORT_KEY_TASK_NAME]: 'taskName',
  [TaskSortKey.TASK_SORT_KEY_STATUS]: 'status',
  [TaskSortKey.UNRECOGNIZED]: undefined,
};

function taskOrder(sortBy: TaskSortKey, ascending: boolean): TaskOrder {
  const key = SORT_KEYS[sortBy];
  if (!key) throw invalidArgument('sort_by must be SUBMITTED_AT, TASK_NAME or STATUS');
  return { key, ascending };
}

/** The public API the CLI drives. Handlers validate, then delegate. */
export function taskService(
  tasks: TaskManager,
  workers: WorkerRegistry,
  logs: TaskLogs,
  files: OutputFiles,
  events: EventSink,
): TaskServiceImplementation<AuthContext> {
  return {
    async submitTask(req, context): Promise<SubmitTaskResponse> {
      const user = userOf(context);
      const { task } = await tasks.submit(user.userName, specInput(req.spec), { idempotencyKey: req.idempotencyKey || undefined });
      return { task: taskToProto(task) };
    },

    async dispatchTask(req, context): Promise<SubmitTaskResponse> {
      const user = userOf(context);
      const workerId = workerIdField(req.workerId);
      const { task } = await tasks.submit(user.userName, specInput(req.spec), {
        idempotencyKey: req.idempotencyKey || undefined,
        pinnedWorkerId: workerId,
      });
      return { task: taskToProto(task) };
    },

    async getTask(req, context) {
      const task = await tasks.get(userOf(context), idField(req.taskId, 'task_id'));
      return { task: taskToProto(task) };
    },

    async listTasks(req, context) {
      const user = userOf(context);
      if (req.allUsers && user.role !== 'admin') {
        throw new DomainError(Status.PERMISSION_DENIED, "only admins may list every user's tasks");
      }
      const statuses = req.statuses.map((s, i): TaskStatus => {
        const status = statusFromProto(s);
        if (!status) throw invalidArgument(`statuses[${i}] must be one of ${TASK_STATUSES.join(', ')}`);
        return status;
      });
      if (req.limit > MAX_LIMIT) throw invalidArgument(`limit must be <= ${MAX_LIMIT}, got ${req.limit}`);
      // No task has a name the rule refuses: such a filter is a mistake, not a search.
      const name = taskNameSchema('task_name').safeParse(req.taskName);
      if (!name.success) throw invalidArgument(name.error.issues[0]?.message ?? 'task_name is invalid');
      const submittedAfter = timeFromProto(req.submittedAfter, 'submitted_after');
      const submittedBefore = timeFromProto(req.submittedBefore, 'submitted_before');
      const limit = req.limit || DEFAULT_LIMIT;
      const order = taskOrder(req.sortBy, req.ascending);
      const found = await tasks.list({
        userId: req.allUsers ? undefined : user.userName,
        statuses: statuses.length ? statuses : undefined,
        taskName: req.taskName || undefined,
        submittedAfter,
        submittedBefore,
        order,
        after: req.pageToken ? decodePageToken(req.pageToken, order) : undefined,
        limit: limit + 1,
      });
      const page = found.slice(0, limit);
      const last = page[page.length - 1];
      return {
        tasks: page.map(taskToProto),
        nextPageToken: found.length > limit && last ? encodePageToken(order, last) : '',
      };
    },

    async cancelTask(req, context) {
      const reason = typedText(req.reason, 'reason', 500);
      const caller = userOf(context);
      const task = await tasks.cancel(caller, idField(req.taskId, 'task_id'), reason);
      if (task.userId !== caller.userName) {
        events.record({
          kind: 'task.cancelled_by_admin',
          taskId: task.taskId,
          workerId: task.workerId,
          userId: task.userId,
          actor: caller.userName,
          attempt: task.attempt,
          message: `admin ${caller.userName} cancelled the task of ${task.userId}`,
          reason: task.reason,
        });
      }
      return { task: taskToProto(task) };
    },

    async listWorkers(req) {
      const list = await workers.list(req.includeLost);
      return { workers: list.map(({ worker, taskIds }) => workerToProto(worker, taskIds)) };
    },

    async drainWorker(req, context) {
      if (userOf(context).role !== 'admin') throw new DomainError(Status.PERMISSION_DENIED, 'only admins may drain workers');
      const worker = await workers.drain(workerIdField(req.workerId), req.drain, userOf(context).userName);
      const list = await workers.list(true);
      return { worker: workerToProto(worker, list.find((w) => w.worker.workerId === worker.workerId)?.taskIds ?? []) };
    },

    async getLogLineIndex(req, context) {
      const task = await tasks.get(userOf(context), idField(req.taskId, 'task_id'));
      if (req.everyLines > MAX_INDEX_EVERY_LINES) throw invalidArgument(`every_lines must be <= ${MAX_INDEX_EVERY_LINES}`);
      const index = await logs.lineIndex(task, req.everyLines || DEFAULT_INDEX_EVERY_LINES);
      return {
        totalLines: index.totalLines,
        logBytes: index.logBytes,
        complete: index.complete,
        checkpoints: index.checkpoints.map((c) => ({
          afterPosition: c.afterPosition,
          lines: c.lines,
          pendingStdout: c.pending.stdout,
          pendingStderr: c.pending.stderr,
        })),
      };
    },

    async *streamLogs(req, context) {
      const task = await tasks.get(userOf(context), idField(req.taskId, 'task_id'));
      const streams = req.streams.map((s, i): LogStreamName => {
        const name = logStreamFromProto(s);
        if (!name) throw invalidArgument(`streams[${i}] must be STDOUT or STDERR`);
        return name;
      });
      if (req.tailLines > MAX_TAIL_LINES) throw invalidArgument(`tail_lines must be <= ${MAX_TAIL_LINES}`);
      const since = timeFromProto(req.since, 'since');
      const events = logs.read(
        task,
        { afterPosition: req.afterPosition, follow: req.follow, streams, tailLines: req.tailLines, since },
        context.signal,
      );
      for await (const ev of events) {
        if (ev.kind === 'entry') {
          const c = ev.chunk;
          yield {
            entry: {
              position: ev.position,
              attempt: c.attempt,
              marker: c.marker,
              chunk: { seq: c.seq, stream: logStreamToProto(c.stream), ts: c.ts, data: bufferOf(c.data), marker: c.marker },
            },
          };
        } else {
          const t = ev.task;
          yield {
            outcome: {
              status: statusToProto(t.status),
              exitCode: t.exitCode ?? undefined,
              reason: t.reason,
              logBytes: t.logBytes,
              droppedBytes: t.logDroppedBytes,
              purged: t.logsPurgedAt !== null,
            },
          };
        }
      }
    },

    async listFiles(req, context) {
      const task = await tasks.get(userOf(context), idField(req.taskId, 'task_id'));
      const listed = await files.list(task.taskId, context.signal);
      // Storage's retention removes outputs without telling the master; a
      // finished task whose outputs storage no longer has stops listing them.
      if (listed.files.length === 0 && task.outputFiles.length > 0 && isTerminal(task.status)) {
        await tasks.forgetOutputs(task.taskId);
      }
      return listed;
    },

    async *downloadFiles(req, context) {
      // Storage keeps no path with NUL; other control characters may be in a file's name.
      if (Buffer.byteLength(req.path) > MAX_OUTPUT_PATH_BYTES || req.path.includes('\0')) {
        throw invalidArgument(`path must be at most ${MAX_OUTPUT_PATH_BYTES} bytes, without NUL`);
      }
      const task = await tasks.get(userOf(context), idField(req.taskId, 'task_id'));
      yield* files.download(task.taskId, { path: req.path, offset: req.offset, length: req.length }, context.signal);
    },

    async deleteFiles(req, context) {
      const task = await tasks.get(userOf(context), idField(req.taskId, 'task_id'));
      // An attempt still under way may yet upload outputs (or be uploading
      // them): deleting now would report them gone just before they appear.
      if (!isTerminal(task.status)) {
        throw failedPrecondition(
          `task ${task.taskId} is ${task.status}; its outputs can be deleted once it has finished (cancel it first to stop it)`,
        );
      }
      const deleted = await files.delete(task.taskId, context.signal);
      await tasks.forgetOutputs(task.taskId);
      const caller = userOf(context);
      const byAdmin = task.userId !== caller.userName;
      const count = `${deleted.deletedFiles} output file${deleted.deletedFiles === 1 ? '' : 's'} (${formatBytes(deleted.deletedBytes)})`;
      events.record({
        kind: byAdmin ? 'files.deleted_by_admin' : 'files.deleted',
        taskId: task.taskId,
        userId: task.userId,
        actor: caller.userName,
        attempt: task.attempt,
        message: byAdmin ? `admin ${caller.userName} deleted ${count} of ${task.userId}'s task` : `deleted ${count}`,
      });
      return deleted;
    },
  };
}

/**
 * A chunk's data as a Buffer view, the same one each time for the same
 * chunk: followers sharing a page then share the entry's encoding too (see
 * @cloudai/proto's log-messages.ts).
 */
const buffers = new WeakMap<Uint8Array, Buffer>();
function bufferOf(data: Uint8Array): Buffer {
  let b = buffers.get(data);
  if (!b) {
    b = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    buffers.set(data, b);
  }
  return b;
}
