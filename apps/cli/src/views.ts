import { type TaskStatus, type UserRole, type WorkerState } from '@cloudai/domain';
import { Role, type Resources as ProtoResources, type Task, type TokenInfo, type User, type Worker } from '@cloudai/proto';
import { statusFromProto, workerStateFromProto } from '@cloudai/rpc/client';

// The stable JSON shapes `--json` prints. Scripts depend on these, so they
// use plain names (SUCCEEDED, not TASK_STATUS_SUCCEEDED), ISO-8601 times and
// null for "not set" rather than omitting keys.

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

export interface UserJson {
  user: string;
  role: UserRole | 'UNKNOWN';
  disabled: boolean;
  createdAt: string | null;
}

/** A token as listed: never its secret, which the master does not keep. */
export interface TokenJson {
  tokenId: string;
  user: string;
  description: string;
  createdAt: string | null;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** A status the master sent that this CLI does not know prints as UNKNOWN rather than failing. */
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

function iso(date: Date | undefined): string | null {
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : null;
}

export function resourcesJson(r: ProtoResources | undefined): ResourcesJson {
  return { cpu: r?.cpu ?? null, memoryGb: r?.memoryGb ?? null, storageGb: r?.storageGb ?? null, gpu: r?.gpu ?? null };
}

// Env values are left out on purpose: they often hold secrets, and printing
// them into terminals and CI logs is how secrets leak.
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
    submittedAt: iso(task.submittedAt),
    scheduledAt: iso(task.scheduledAt),
    startedAt: iso(task.startedAt),
    finishedAt: iso(task.finishedAt),
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
    lastHeartbeat: iso(worker.lastHeartbeat),
    registeredAt: iso(worker.registeredAt),
    taskIds: [...worker.taskIds],
  };
}

export function userJson(user: User): UserJson {
  return { user: user.userName, role: roleName(user.role), disabled: user.disabled, createdAt: iso(user.createdAt) };
}

export function tokenJson(token: TokenInfo): TokenJson {
  return {
    tokenId: token.tokenId,
    user: token.userName,
    description: token.description,
    createdAt: iso(token.createdAt),
    expiresAt: iso(token.expiresAt),
    lastUsedAt: iso(token.lastUsedAt),
    revokedAt: iso(token.revokedAt),
  };
}

/** Prints one JSON document on its own line. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
