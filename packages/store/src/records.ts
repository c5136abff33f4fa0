import type { ResourceUnits, Resources, TaskStatus, WorkerState } from '@cloudai/domain';

/** One row of TASKS. Times are Dates; absent values are null, never undefined. */
export interface TaskRecord {
  taskId: string;
  taskName: string;
  userId: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  resources: Resources;
  timeoutSeconds: number;
  network: boolean;
  status: TaskStatus;
  reason: string;
  attempt: number;
  assignmentId: string | null;
  workerId: string | null;
  pinnedWorkerId: string | null;
  exitCode: number | null;
  submittedAt: Date;
  scheduledAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  outputFiles: OutputFileRecord[];
  outputBytes: number;
  logBytes: number;
  /**
   * `<user_id>:<key>` when the client sent an idempotency key, else the
   * task id: always set, so a plain unique index enforces it (FerretDB v1
   * has no partial indexes).
   */
  idempotencyKey: string;
  updatedAt: Date;
}

export interface OutputFileRecord {
  path: string;
  size: number;
  sha256: string;
}

/** Fields a conditional task update may set. */
export type TaskPatch = Partial<
  Pick<
    TaskRecord,
    | 'status'
    | 'reason'
    | 'attempt'
    | 'assignmentId'
    | 'workerId'
    | 'exitCode'
    | 'scheduledAt'
    | 'startedAt'
    | 'finishedAt'
    | 'outputFiles'
    | 'outputBytes'
    | 'logBytes'
  >
>;

/** The condition of a conditional update: every given field must match. */
export interface TaskCondition {
  statuses?: readonly TaskStatus[];
  /** null matches a task with no current assignment. */
  assignmentId?: string | null;
}

export interface TaskFilter {
  userId?: string;
  statuses?: readonly TaskStatus[];
  taskName?: string;
  submittedAfter?: Date;
  submittedBefore?: Date;
  workerId?: string;
  /** Keyset pagination: only tasks strictly older than this (submittedAt, taskId). */
  before?: { submittedAt: Date; taskId: string };
  limit: number;
}

export interface Usage {
  cpuPercent: number;
  memoryUsedGb: number;
  loadAverage1m: number;
  runningContainers: number;
}

/** One row of WORKERS. Capacity and free are exact integer units. */
export interface WorkerRecord {
  workerId: string;
  address: string;
  state: WorkerState;
  capacity: ResourceUnits;
  /** capacity minus what placed tasks hold; reserved and released atomically */
  free: ResourceUnits;
  usage: Usage;
  version: string;
  lastHeartbeat: Date;
  registeredAt: Date;
}

export interface AssignmentRecord {
  assignmentId: string;
  taskId: string;
  workerId: string;
  attempt: number;
  createdAt: Date;
  /** null while current; then the status it ended with or why it was superseded */
  outcome: string | null;
}

/** One row of RESULTS: the accepted outcome of a task, written once. */
export interface ResultRecord {
  taskId: string;
  workerId: string;
  status: TaskStatus;
  exitCode: number | null;
  completedAt: Date;
  logBytes: number;
}
