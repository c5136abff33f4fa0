import { MAX_OUTPUT_PATH_BYTES, quoted, reportedText, toUnits } from '@cloudai/domain';
import type { ClusterServiceImplementation, Resources as ProtoResources, RunningAssignment, Usage } from '@cloudai/proto';
import {
  DomainError,
  fullCollector,
  invalidArgument,
  logStreamFromProto,
  releaseChunk,
  resourcesFromProto,
  statusFromProto,
  timeFromProto,
} from '@cloudai/rpc';
import type { OutputFileRecord } from '@cloudai/store';
import { Status } from 'nice-grpc';
import type { MasterCredentials } from './auth/credentials.js';
import type { AuthContext } from './auth/principal.js';
import { workerOf } from './caller.js';
import type { TaskLogs } from './task-logs.js';
import type { TaskManager } from './task-manager.js';
import { idField, typedText, workerIdField } from './request-fields.js';
import type { WorkerProgress } from './worker-progress.js';
import type { WorkerRegistry } from './worker-registry.js';

const ADDRESS_RE = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const SHA256_RE = /^[0-9a-f]{64}$/;
/** A worker's reason for a result is kept (see reportedText), cut to this. */
const MAX_REASON_CHARS = 2000;
/** Bound on every capacity and usage figure: far beyond any host, far within exact arithmetic. */
const MAX_FIGURE = 1e7;

function address(value: string): string {
  const port = Number(ADDRESS_RE.exec(value)?.[2]);
  if (!(port >= 1 && port <= 65_535)) throw invalidArgument(`address must be host:port, got ${quoted(value)}`);
  return value;
}

function capacity(r: ProtoResources | undefined) {
  const c = resourcesFromProto(r);
  const dims = { cpu: c.cpu, memory_gb: c.memoryGb, storage_gb: c.storageGb, gpu: c.gpu };
  for (const [k, v] of Object.entries(dims)) {
    if (v === undefined || !Number.isFinite(v) || v < 0 || v > MAX_FIGURE) {
      throw invalidArgument(`capacity.${k} must be a number from 0 to ${MAX_FIGURE}, got ${String(v)}`);
    }
  }
  if (!Number.isInteger(c.gpu)) throw invalidArgument(`capacity.gpu must be a whole number, got ${String(c.gpu)}`);
  return toUnits({ cpu: c.cpu ?? 0, memoryGb: c.memoryGb ?? 0, storageGb: c.storageGb ?? 0, gpu: c.gpu ?? 0 });
}

function running(list: RunningAssignment[]) {
  return list.map((r, i) => ({
    taskId: idField(r.taskId, `running[${i}].task_id`),
    assignmentId: idField(r.assignmentId, `running[${i}].assignment_id`),
  }));
}

function ids(taskId: string, assignmentId: string) {
  return { taskId: idField(taskId, 'task_id'), assignmentId: idField(assignmentId, 'assignment_id') };
}

/** Host telemetry; unset figures are 0. */
function usage(u: Usage | undefined) {
  const figures = { cpu_percent: u?.cpuPercent ?? 0, memory_used_gb: u?.memoryUsedGb ?? 0, load_average_1m: u?.loadAverage1m ?? 0 };
  for (const [k, v] of Object.entries(figures)) {
    const max = k === 'cpu_percent' ? 100 : MAX_FIGURE;
    if (!(v >= 0 && v <= max)) throw invalidArgument(`usage.${k} must be a number from 0 to ${max}, got ${String(v)}`);
  }
  return {
    cpuPercent: figures.cpu_percent,
    memoryUsedGb: figures.memory_used_gb,
    loadAverage1m: figures.load_average_1m,
    runningContainers: u?.runningContainers ?? 0,
  };
}

/** A worker speaks only for itself: its credential names its id. */
function sameWorker(workerId: string, context: AuthContext): void {
  const caller = workerOf(context);
  if (caller.workerId !== workerId) {
    throw new DomainError(Status.PERMISSION_DENIED, `worker ${caller.workerId} cannot act as worker ${workerId}`);
  }
}

/** The API workers call: membership and the reports of their assignments. */
export function clusterService(
  tasks: TaskManager,
  workers: WorkerRegistry,
  logs: TaskLogs,
  credentials: MasterCredentials,
  progress: WorkerProgress,
  opts: { heartbeatIntervalMs: number },
): ClusterServiceImplementation<AuthContext> {
  // A full collection every 32 MiB of log data received: what gRPC
  // gathered each batch in outlives the young collections that run while
  // the batch waits its turn, and V8 collects it only once 64 MiB of it
  // have piled up (the master's RSS under a 200 MiB burst: 153–158 MiB
  // with this, 162–200 without).
  const collectLogGarbage = fullCollector(32 * 1024 * 1024);
  return {
    async registerWorker(req) {
      const { stale } = await workers.register({
        workerId: workerIdField(req.workerId),
        address: address(req.address),
        capacity: capacity(req.capacity),
        version: typedText(req.version, 'version', 64),
        running: running(req.running),
      });
      return {
        heartbeatIntervalMs: opts.heartbeatIntervalMs,
        stale,
        credential: credentials.workerCredential(req.workerId),
        masterPublicKey: credentials.publicKeyPem,
      };
    },

    async heartbeat(req, context) {
      sameWorker(workerIdField(req.workerId), context);
      const result = await workers.heartbeat(req.workerId, usage(req.usage), running(req.running));
      return result ? { known: true, stale: result.stale } : { known: false, stale: [] };
    },

    async reportTaskStatus(req, context) {
      const { taskId, assignmentId } = ids(req.taskId, req.assignmentId);
      const status = statusFromProto(req.status);
      if (status !== 'RUNNING' && status !== 'UPLOADING') {
        throw invalidArgument(`status must be RUNNING or UPLOADING, got ${status ?? req.status}`);
      }
      const task = await tasks.requireOnWorker(taskId, assignmentId, workerOf(context).workerId);
      await tasks.reportStatus(taskId, assignmentId, status, { bytes: req.outputBytes, files: req.outputFiles });
      if (status !== 'UPLOADING') return {};
      // Whatever the worker claims, storage files the outputs under what the master knows.
      return {
        uploadGrant: credentials.uploadGrant({
          taskId,
          assignmentId,
          userId: task.userId,
          taskName: task.taskName,
          submittedAt: task.submittedAt,
        }),
      };
    },

    async appendLogs(req, context) {
      const { taskId, assignmentId } = ids(req.taskId, req.assignmentId);
      const chunks = req.chunks.map((c, i) => ({
        seq: c.seq,
        stream: logStreamFromProto(c.stream),
        ts: timeFromProto(c.ts, `chunks[${i}].ts`),
        data: c.data,
        marker: c.marker,
      }));
      try {
        return await logs.append(taskId, assignmentId, workerOf(context).workerId, chunks, req.droppedBytes, req.followsSeq);
      } finally {
        // Stored (the store copied them) or refused: each chunk's buffer (the
        // decoder's copy) is freed now rather than by a collection.
        let bytes = 0;
        for (const c of req.chunks) {
          bytes += c.data.byteLength;
          releaseChunk(c.data);
        }
        collectLogGarbage(bytes);
      }
    },

    async completeTask(req, context) {
      const { taskId, assignmentId } = ids(req.taskId, req.assignmentId);
      await tasks.requireOnWorker(taskId, assignmentId, workerOf(context).workerId);
      const status = statusFromProto(req.status);
      if (status !== 'SUCCEEDED' && status !== 'FAILED' && status !== 'TIMED_OUT') {
        throw invalidArgument(`status must be SUCCEEDED, FAILED or TIMED_OUT, got ${status ?? req.status}`);
      }
      if (status === 'SUCCEEDED' && req.exitCode !== undefined && req.exitCode !== 0) {
        throw invalidArgument(`status SUCCEEDED needs exit_code 0, got ${req.exitCode}`);
      }
      const outputFiles: OutputFileRecord[] = req.outputFiles.map((f, i) => {
        if (!f.path || Buffer.byteLength(f.path) > MAX_OUTPUT_PATH_BYTES || f.path.includes('\0')) {
          throw invalidArgument(`output_files[${i}].path must be 1-${MAX_OUTPUT_PATH_BYTES} bytes, without NUL`);
        }
        if (!SHA256_RE.test(f.sha256)) throw invalidArgument(`output_files[${i}].sha256 must be 64 lowercase hex characters`);
        return { path: f.path, size: f.size, sha256: f.sha256 };
      });
      await tasks.complete({
        taskId,
        assignmentId,
        status,
        exitCode: req.exitCode ?? null,
        reason: reportedText(req.reason, MAX_REASON_CHARS),
        outputFiles,
        outputBytes: req.outputBytes,
      });
      return {};
    },

    async reportProgress(req, context) {
      const { taskId, assignmentId } = ids(req.taskId, req.assignmentId);
      await progress.report(workerOf(context).workerId, {
        taskId,
        assignmentId,
        progress: req.progress,
        bytes: req.bytes,
        files: req.files,
        durationMs: req.durationMs,
      });
      return {};
    },
  };
}
