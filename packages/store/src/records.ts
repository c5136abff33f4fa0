import type { LogStreamName, TaskStatus } from '@cloudai/domain';
import type { ASSIGNMENT_FIELDS } from './fields/assignment-fields.js';
import type { EVENT_FIELDS } from './fields/event-fields.js';
import type { PatchKeys, RecordOf } from './fields/field.js';
import type { FILE_METADATA_FIELDS } from './fields/file-metadata-fields.js';
import type { TOKEN_FIELDS, USER_FIELDS } from './fields/identity-fields.js';
import type { LOG_CHUNK_FIELDS } from './fields/log-chunk-fields.js';
import type { RESULT_FIELDS } from './fields/result-fields.js';
import type { OUTPUT_FILE_FIELDS, TASK_FIELDS } from './fields/task-fields.js';
import type { USAGE_FIELDS, WORKER_FIELDS } from './fields/worker-fields.js';

/** One row of TASKS, as fields/task-fields.ts declares it. Times are Dates; absent values are null, never undefined. */
export type TaskRecord = RecordOf<typeof TASK_FIELDS>;

export type OutputFileRecord = RecordOf<typeof OUTPUT_FILE_FIELDS>;

/** Fields a conditional task update may set: those TASK_FIELDS marks `patch`. */
export type TaskPatch = Partial<Pick<TaskRecord, PatchKeys<typeof TASK_FIELDS>>>;

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
  /** The list's order; newest first when unset. */
  order?: TaskOrder;
  /** Keyset pagination: only tasks strictly after this one in the order. */
  after?: TaskCursor;
  limit: number;
}

/** Keys a task list is sorted by; ties go by submittedAt, then taskId, in the same direction. */
export const TASK_SORT_KEYS = ['submittedAt', 'taskName', 'status'] as const;
export type TaskSortKey = (typeof TASK_SORT_KEYS)[number];

export interface TaskOrder {
  key: TaskSortKey;
  ascending: boolean;
}

/** The last task of a page, as far as the order reads it. */
export type TaskCursor = Pick<TaskRecord, 'submittedAt' | 'taskId' | 'taskName' | 'status'>;

export const NEWEST_FIRST: TaskOrder = { key: 'submittedAt', ascending: false };

export type Usage = RecordOf<typeof USAGE_FIELDS>;

/** One row of WORKERS (fields/worker-fields.ts). Capacity and free are exact integer units. */
export type WorkerRecord = RecordOf<typeof WORKER_FIELDS>;

export type AssignmentRecord = RecordOf<typeof ASSIGNMENT_FIELDS>;

/** One row of RESULTS: the accepted outcome of a task, written once. */
export type ResultRecord = RecordOf<typeof RESULT_FIELDS>;

/** One row of LOG_CHUNKS (fields/log-chunk-fields.ts). */
export type LogChunkRecord = RecordOf<typeof LOG_CHUNK_FIELDS>;

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

/** One row of FILE_METADATA (fields/file-metadata-fields.ts): a stored output file. */
export type FileMetadataRecord = RecordOf<typeof FILE_METADATA_FIELDS>;

/** One row of USERS (fields/identity-fields.ts). */
export type UserRecord = RecordOf<typeof USER_FIELDS>;

/** One row of TOKENS (fields/identity-fields.ts): an API token's public part and the hash of its secret. */
export type TokenRecord = RecordOf<typeof TOKEN_FIELDS>;

/** One row of EVENTS (fields/event-fields.ts). */
export type EventRecord = RecordOf<typeof EVENT_FIELDS>;

/** An event to store: the store gives it its seq. */
export type NewEventRecord = Omit<EventRecord, 'seq'>;

export interface EventQuery {
  /** only events with seq > afterSeq (default 0: from the first) */
  afterSeq?: number;
  /** only events with seq <= throughSeq (default: no bound): a reader holds this below a seq that may still be stored */
  throughSeq?: number;
  taskId?: string;
  workerId?: string;
  /** only events of tasks this user owns (events of no task are left out) */
  taskOwner?: string;
  /** only events at or after this time */
  since?: Date;
  /** the newest `limit` matching events rather than the oldest; either way returned in seq order */
  latest?: boolean;
  limit: number;
}
