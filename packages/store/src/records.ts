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
  /** log bytes dropped: over the per-task cap, or by the worker's bounded buffers */
  logDroppedBytes: number;
  /** when retention removed the task's log chunks; null while they are kept */
  logsPurgedAt: Date | null;
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
    | 'logDroppedBytes'
    | 'logsPurgedAt'
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
  /** only tasks that ended before this time */
  finishedBefore?: Date;
  /** true: only tasks whose logs were purged; false: only tasks whose logs are kept */
  logsPurged?: boolean;
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

export type LogStreamName = 'stdout' | 'stderr';

/**
 * One row of LOG_CHUNKS: an ordered piece of a task's output. Unique on
 * (taskId, assignmentId, seq), so a resent batch is stored once.
 */
export interface LogChunkRecord {
  taskId: string;
  assignmentId: string;
  /**
   * The task's attempt when the assignment was made. Each attempt must have
   * one assignment: two assignments sharing an attempt would share positions.
   */
  attempt: number;
  /** per assignment, from 0 */
  seq: number;
  stream: LogStreamName;
  ts: Date;
  data: Uint8Array;
  /** written by cloudai (e.g. a truncation marker), not by the task */
  marker: boolean;
}

/** Where a chunk sits in its task's log, increasing across attempts; what clients resume from. */
export function logPosition(chunk: Pick<LogChunkRecord, 'attempt' | 'seq'>): number {
  return chunk.attempt * 2 ** 32 + chunk.seq + 1;
}

export interface LogQuery {
  /** only chunks with logPosition > afterPosition (ascending reads) */
  afterPosition?: number;
  /** only chunks with logPosition < beforePosition (backward reads) */
  beforePosition?: number;
  streams?: readonly LogStreamName[];
  /** only chunks with ts >= since */
  since?: Date;
  limit: number;
}

/** One row of FILE_METADATA: a stored output file. */
export interface FileMetadataRecord {
  taskId: string;
  taskName: string;
  userId: string;
  submittedAt: Date;
  assignmentId: string;
  /** base name, e.g. "model.bin" */
  fileName: string;
  /** relative to the task's folder, '/'-separated, e.g. "models/model.bin" */
  filePath: string;
  /** the task's folder relative to the storage root: <user>/<task_name>/<submitted_at>/<task_id> (sanitized) */
  taskDir: string;
  fileSize: number;
  sha256: string;
  storedAt: Date;
}
