import { MAX_OUTPUT_PATH_BYTES, toUnits, WORKER_ID_PATTERN, WORKER_ID_RULE } from '@cloudai/domain';
import type { ClusterServiceImplementation, Resources as ProtoResources, RunningAssignment } from '@cloudai/proto';
import { DomainError, invalidArgument, logStreamFromProto, resourcesFromProto, statusFromProto } from '@cloudai/rpc';
import type { OutputFileRecord } from '@cloudai/store';
import { Status } from 'nice-grpc';
import type { MasterCredentials } from './auth/credentials.js';
import type { AuthContext } from './auth/principal.js';
import { workerOf } from './caller.js';
import type { TaskLogs } from './task-logs.js';
import type { TaskManager } from './task-manager.js';
import type { WorkerProgress } from './worker-progress.js';
import type { WorkerRegistry } from './worker-registry.js';

const ADDRESS_RE = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

function workerId(value: string): string {
  if (!WORKER_ID_PATTERN.test(value)) throw invalidArgument(`worker_id must be ${WORKER_ID_RULE}`);
  return value;
}

function capacity(r: ProtoResources | undefined) {
  const c = resourcesFromProto(r);
  const dims = { cpu: c.cpu, memory_gb: c.memoryGb, storage_gb: c.storageGb, gpu: c.gpu };
  for (const [k, v] of Object.entries(dims)) {
    if (v === undefined || !Number.isFinite(v) || v < 0 || v > 1e7) {
      throw invalidArgument(`capacity.${k} must be a finite number >= 0, got ${String(v)}`);
    }
  }
  return toUnits({ cpu: c.cpu ?? 0, memoryGb: c.memoryGb ?? 0, storageGb: c.storageGb ?? 0, gpu: c.gpu ?? 0 });
}

function running(list: RunningAssignment[]) {
  return list.map((r, i) => {
    if (!r.taskId || !r.assignmentId) throw invalidArgument(`running[${i}] needs task_id and assignment_id`);
    return { taskId: r.taskId, assignmentId: r.assignmentId };
  });
}

function ids(taskId: string, assignmentId: string) {
  if (!taskId) throw invalidArgument('task_id is required');
  if (!assignmentId) throw invalidArgument('assignment_id is required');
  return { taskId, assignmentId };
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
  return {
    async registerWorker(req) {
      if (!ADDRESS_RE.test(req.address)) throw invalidArgument(`address must be host:port, got ${JSON.stringify(req.address)}`);
      const { stale } = await workers.register({
        workerId: workerId(req.workerId),
        address: req.address,
        capacity: capacity(req.capacity),
        version: req.version.slice(0, 64),
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
      sameWorker(req.workerId, context);
      const u = req.usage;
      const usage = {
        cpuPercent: finiteOr0(u?.cpuPercent),
        memoryUsedGb: finiteOr0(u?.memoryUsedGb),
        loadAverage1m: finiteOr0(u?.loadAverage1m),
        runningContainers: u?.runningContainers ?? 0,
      };
      const result = await workers.heartbeat(workerId(req.workerId), usage, running(req.running));
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
      const chunks = req.chunks.map((c) => ({
        seq: c.seq,
        stream: logStreamFromProto(c.stream),
        ts: c.ts,
        data: c.data,
      }));
      return logs.append(taskId, assignmentId, workerOf(context).workerId, chunks, req.droppedBytes);
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
        if (!f.path || Buffer.byteLength(f.path) > MAX_OUTPUT_PATH_BYTES) {
          throw invalidArgument(`output_files[${i}].path must be 1-${MAX_OUTPUT_PATH_BYTES} bytes`);
        }
        if (!SHA256_RE.test(f.sha256)) throw invalidArgument(`output_files[${i}].sha256 must be 64 lowercase hex characters`);
        return { path: f.path, size: f.size, sha256: f.sha256 };
      });
      await tasks.complete({
        taskId,
        assignmentId,
        status,
        exitCode: req.exitCode ?? null,
        reason: req.reason.slice(0, 2000),
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

function finiteOr0(n: number | undefined): number {
  return n !== undefined && Number.isFinite(n) ? n : 0;
}
