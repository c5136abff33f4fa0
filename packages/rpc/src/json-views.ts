import { type TaskStatus, type UserRole, type WorkerState } from '@cloudai/domain';
import { Role, type Event, type Resources as ProtoResources, type Task, type Worker } from '@cloudai/proto';
import { statusFromProto, workerStateFromProto } from './convert.js';

// The stable JSON shapes of tasks, workers and events that clients print or
// serve: the CLI's `--json` and the web app's HTTP API are the same shapes,
// made here. Scripts depend on them, so they use plain names (SUCCEEDED, not
// TASK_STATUS_SUCCEEDED), ISO-8601 times and null for "not set" rather than
// omitting keys.

export interface ResourcesJson {
  cpu: number | null;
  memoryGb: number | null;
  storageGb: number | null;
  gpu: number | null;
}

export interface TaskJson {
  taskId: string;
  taskName: string;
  userId: string;
  image: string;
  command: string[];
  status: TaskStatus | 'UNKNOWN';
  reason: string;
  exitCode: number | null;
  workerId: string | null;
  pinnedWorkerId: string | null;
  attempt: number;
  resources: ResourcesJson;
  timeoutSeconds: number;
  network: boolean;
  submittedAt: string | null;
  scheduledAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** when the current attempt began uploading its outputs */
  uploadingAt: string | null;
  outputFiles: { path: string; size: number; sha256: string }[];
  outputBytes: number;
  logBytes: number;
}

export interface WorkerJson {
  workerId: string;
  state: WorkerState | 'UNKNOWN';
  address: string;
  capacity: ResourcesJson;
  allocated: ResourcesJson;
  usage: { cpuPercent: number; memoryUsedGb: number; loadAverage1m: number; runningContainers: number } | null;
  lastHeartbeat: string | null;
  registeredAt: string | null;
  taskIds: string[];
}

/** The shape of an event (`events --json`, the web app's event stream): ISO times, null for "none". */
export interface EventJson {
  seq: number;
  time: string | null;
  kind: string;
  taskId: string | null;
  workerId: string | null;
  userId: string | null;
  actor: string | null;
  attempt: number;
  message: string;
  reason: string;
}

/** A status the master sent that this client does not know shows as UNKNOWN rather than failing. */
export function taskStatus(task: Task): TaskStatus | 'UNKNOWN' {
  return statusFromProto(task.status) ?? 'UNKNOWN';
}

export function workerState(worker: Worker): WorkerState | 'UNKNOWN' {
  return workerStateFromProto(worker.state) ?? 'UNKNOWN';
}

/** The proto says an unset role means a plain user. */
export function roleName(role: Role): UserRole | 'UNKNOWN' {
  if (role === Role.ROLE_ADMIN) return 'admin';
  if (role === Role.ROLE_USER || role === Role.ROLE_UNSPECIFIED) return 'user';
  return 'UNKNOWN';
}

/** ISO-8601, or null for a time that is not set (or not a time). */
export function isoTime(date: Date | undefined): string | null {
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : null;
}

export function resourcesJson(r: ProtoResources | undefined): ResourcesJson {
  return { cpu: r?.cpu ?? null, memoryGb: r?.memoryGb ?? null, storageGb: r?.storageGb ?? null, gpu: r?.gpu ?? null };
}

// Env values are left out on purpose: they often hold secrets, and printing
// them into terminals, CI logs and browsers is how secrets leak.
export function taskJson(task: Task): TaskJson {
  return {
    taskId: task.taskId,
    taskName: task.taskName,
    userId: task.userId,
    image: task.spec?.image ?? '',
    command: task.spec?.command ?? [],
    status: taskStatus(task),
    reason: task.reason,
    exitCode: task.exitCode ?? null,
    workerId: task.workerId || null,
    pinnedWorkerId: task.pinnedWorkerId || null,
    attempt: task.attempt,
    resources: resourcesJson(task.spec?.resources),
    timeoutSeconds: task.spec?.timeoutSeconds ?? 0,
    network: task.spec?.network ?? false,
    submittedAt: isoTime(task.submittedAt),
    scheduledAt: isoTime(task.scheduledAt),
    startedAt: isoTime(task.startedAt),
    finishedAt: isoTime(task.finishedAt),
    uploadingAt: isoTime(task.uploadingAt),
    outputFiles: task.outputFiles.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    outputBytes: task.outputBytes,
    logBytes: task.logBytes,
  };
}

export function workerJson(worker: Worker): WorkerJson {
  return {
    workerId: worker.workerId,
    state: workerState(worker),
    address: worker.address,
    capacity: resourcesJson(worker.capacity),
    allocated: resourcesJson(worker.allocated),
    usage: worker.usage
      ? {
          cpuPercent: worker.usage.cpuPercent,
          memoryUsedGb: worker.usage.memoryUsedGb,
          loadAverage1m: worker.usage.loadAverage1m,
          runningContainers: worker.usage.runningContainers,
        }
      : null,
    lastHeartbeat: isoTime(worker.lastHeartbeat),
    registeredAt: isoTime(worker.registeredAt),
    taskIds: [...worker.taskIds],
  };
}

export function eventJson(e: Event): EventJson {
  return {
    seq: e.seq,
    time: e.time?.toISOString() ?? null,
    kind: e.kind,
    taskId: e.taskId || null,
    workerId: e.workerId || null,
    userId: e.userId || null,
    actor: e.actor || null,
    attempt: e.attempt,
    message: e.message,
    reason: e.reason,
  };
}
