import type { ResourceUnits, TaskStatus, WorkerState } from '@cloudai/domain';
import type {
  AssignmentRecord,
  EventQuery,
  EventRecord,
  FileMetadataRecord,
  LogChunkRecord,
  LogQuery,
  NewEventRecord,
  ResultRecord,
  TaskCondition,
  TaskFilter,
  TaskPatch,
  TaskRecord,
  TokenRecord,
  Usage,
  UserRecord,
  WorkerRecord,
} from './records.js';

/**
 * The persistence port. Every state change is one conditional update of one
 * document/row, atomic under concurrent callers; there are no multi-record
 * transactions (FerretDB v1 and MongoDB without a replica set have none).
 * Both adapters pass the contract suite in `contract/`.
 *
 * FerretDB v1 does not apply a conditional update atomically (it reads, then
 * writes the whole document back); the Mongo adapter makes that safe by
 * serializing writes per document within one process only. Several
 * processes sharing one store need real MongoDB, or SQLite on one host.
 */
export interface Store extends FileMetadataStore, IdentityStore {
  readonly kind: 'sqlite' | 'mongodb';

  // --- TASKS
  /**
   * Inserts a task. If a task with the same idempotencyKey exists, returns
   * that one with created = false and stores nothing.
   */
  createTask(task: TaskRecord): Promise<{ task: TaskRecord; created: boolean }>;
  getTask(taskId: string): Promise<TaskRecord | null>;
  /** Newest first (submittedAt desc, taskId desc). Throws RangeError unless limit is a positive integer. */
  listTasks(filter: TaskFilter): Promise<TaskRecord[]>;
  /** QUEUED tasks, oldest first. */
  listQueuedTasks(limit: number): Promise<TaskRecord[]>;
  /**
   * Applies `patch` only if the task matches `condition`; returns the updated
   * task, or null if it does not exist or no longer matches. Sets updatedAt
   * to now. Undefined patch values are ignored; a key outside TaskPatch throws.
   */
  updateTask(taskId: string, condition: TaskCondition, patch: TaskPatch): Promise<TaskRecord | null>;
  /** Counts tasks per status (for a user, if given). */
  countTasksByStatus(userId?: string): Promise<Partial<Record<TaskStatus, number>>>;

  // --- WORKERS
  /**
   * Creates or replaces a worker's registration: state ALIVE, the given
   * capacity and free units, lastHeartbeat = registeredAt = now.
   */
  registerWorker(worker: Omit<WorkerRecord, 'state' | 'lastHeartbeat' | 'registeredAt'>, now: Date): Promise<WorkerRecord>;
  getWorker(workerId: string): Promise<WorkerRecord | null>;
  listWorkers(states?: readonly WorkerState[]): Promise<WorkerRecord[]>;
  /** Records a heartbeat if the worker is in one of `states`; null otherwise. */
  heartbeatWorker(workerId: string, usage: Usage, now: Date, states: readonly WorkerState[]): Promise<WorkerRecord | null>;
  /** Moves a worker from one of `from` to `to`; null if it was not in `from`. */
  setWorkerState(workerId: string, from: readonly WorkerState[], to: WorkerState): Promise<WorkerRecord | null>;
  /** Workers in one of `states` whose last heartbeat is older than `before`. */
  listWorkersSilentSince(before: Date, states: readonly WorkerState[]): Promise<WorkerRecord[]>;
  /**
   * Atomically takes `units` from the worker's free capacity, only if it is
   * ALIVE and every dimension fits. Returns false (and changes nothing) otherwise.
   * Throws RangeError for units that are not non-negative integers.
   */
  reserveOnWorker(workerId: string, units: ResourceUnits): Promise<boolean>;
  /**
   * Atomically gives `units` back to the worker's free capacity, never
   * beyond its capacity (a release may follow a re-registration that
   * already reset free). Does nothing for an unknown worker.
   */
  releaseOnWorker(workerId: string, units: ResourceUnits): Promise<void>;
  /**
   * Compare-and-set of a worker's free units: sets them to `to` only if they
   * are exactly `from` now. Returns whether it did. For repairing a
   * reservation that no task explains (a master that died between reserving
   * and recording the placement); any concurrent reserve or release makes
   * it a no-op. Throws RangeError for units that are not non-negative integers.
   */
  resetWorkerFree(workerId: string, from: ResourceUnits, to: ResourceUnits): Promise<boolean>;

  // --- ASSIGNMENTS
  createAssignment(assignment: AssignmentRecord): Promise<void>;
  getAssignment(assignmentId: string): Promise<AssignmentRecord | null>;
  /** Sets the outcome once; returns false if it already had one. */
  finishAssignment(assignmentId: string, outcome: string): Promise<boolean>;

  // --- RESULTS
  /** Writes the task's result; a second write for the same task replaces it. */
  putResult(result: ResultRecord): Promise<void>;
  getResult(taskId: string): Promise<ResultRecord | null>;

  // --- LOG_CHUNKS
  /**
   * Inserts chunks, skipping any whose (taskId, assignmentId, seq) is
   * already stored (a resent batch, or the same batch appended concurrently:
   * each chunk is counted by exactly one caller). A skipped chunk never
   * overwrites the stored one. Returns how many chunks and data bytes were
   * new. Throws RangeError, storing nothing, for a chunk logPosition() cannot
   * encode (seq outside [0, 2^32), attempt outside [0, 2^20)).
   */
  appendLogChunks(chunks: readonly LogChunkRecord[]): Promise<{ inserted: number; insertedBytes: number }>;
  /**
   * Chunks of a task in log order (ascending position), after `afterPosition`
   * (default 0: from the start); `since` is inclusive. Resuming from the last
   * returned chunk's position yields no gap and no duplicate.
   */
  readLogChunks(taskId: string, query: LogQuery): Promise<LogChunkRecord[]>;
  /** Chunks of a task newest first, before `beforePosition` (default: the end), for `--tail`. */
  readLogChunksBackward(taskId: string, query: LogQuery): Promise<LogChunkRecord[]>;
  /** The newest chunk's attempt and seq (its data is not read), or null when the task has none: where appending resumes. */
  lastLogSeq(taskId: string): Promise<{ attempt: number; seq: number } | null>;
  /** Removes every chunk of a task; returns how many. */
  deleteLogChunks(taskId: string): Promise<number>;
  /**
   * Atomically adds to the task's logBytes and logDroppedBytes (non-negative
   * integers, else RangeError) and sets updatedAt; returns the updated task
   * (null if it does not exist).
   */
  addLogBytes(taskId: string, storedBytes: number, droppedBytes: number): Promise<TaskRecord | null>;

  // --- FILE_METADATA: see FileMetadataStore

  // --- EVENTS
  /**
   * Stores events in the order given, each with the next sequence number,
   * and returns them with it. Sequence numbers increase in the order events
   * are stored and are never reused, not even once retention removed every
   * event (there may be gaps, e.g. after a failed append). Appends through
   * one store are stored one after another, so a reader that has seen seq N
   * has seen every event stored before it: resuming after N misses nothing
   * and repeats nothing. That holds for one writing process (one master):
   * several processes appending to one MongoDB can make a lower seq
   * visible after a higher one, so the master's readers hold their cursor
   * below a missing seq for a while (apps/master/src/event-horizon.ts).
   */
  appendEvents(events: readonly NewEventRecord[]): Promise<EventRecord[]>;
  /** Matching events in seq order. Throws RangeError unless limit is a positive integer. */
  listEvents(query: EventQuery): Promise<EventRecord[]>;
  /** The highest seq stored, 0 when there are no events: where a follower of new events only starts. */
  lastEventSeq(): Promise<number>;
  /** Removes events older than `before` (retention); returns how many. */
  deleteEventsBefore(before: Date): Promise<number>;

  /** Deletes everything (tests only). */
  clear(): Promise<void>;
}

/**
 * The part of the store the storage service uses: its file records. Storage
 * depends on this, not on Store, so it cannot reach tasks or workers.
 */
export interface FileMetadataStore {
  /**
   * Replaces the task's file records with `files` (a retried upload
   * replaces, never duplicates). Throws RangeError, changing nothing, if a
   * record belongs to another task or a filePath repeats. SQLite swaps the
   * set in one transaction; MongoDB deletes then inserts, so a reader may
   * briefly see no files, and concurrent replaces are serialized only within
   * one process (the unique (task_id, file_path) index still prevents duplicates).
   */
  replaceFileMetadata(taskId: string, files: readonly FileMetadataRecord[]): Promise<void>;
  /** The task's files, ordered by filePath. */
  listFileMetadata(taskId: string): Promise<FileMetadataRecord[]>;
  /** Removes the task's file records; returns how many. */
  deleteFileMetadata(taskId: string): Promise<number>;
  /**
   * Ids of tasks with a file stored before `before`, each once, ordered by
   * their oldest such file (then task id), for retention.
   */
  listTasksWithFilesStoredBefore(before: Date, limit: number): Promise<string[]>;
  close(): Promise<void>;
}

/** USERS and TOKENS: who may call, and with which tokens. */
export interface IdentityStore {
  /** Inserts a user unless one of that name exists; returns the stored one either way. */
  createUser(user: UserRecord): Promise<{ user: UserRecord; created: boolean }>;
  getUser(userName: string): Promise<UserRecord | null>;
  /** Every user, by name. */
  listUsers(): Promise<UserRecord[]>;
  countUsers(): Promise<number>;
  /** Returns the updated user, or null if there is none of that name. */
  setUserDisabled(userName: string, disabled: boolean): Promise<UserRecord | null>;
  /** Inserts a token; a token id already stored throws. */
  createToken(token: TokenRecord): Promise<void>;
  getToken(tokenId: string): Promise<TokenRecord | null>;
  /** A user's tokens (everyone's when undefined), oldest first. */
  listTokens(userName?: string): Promise<TokenRecord[]>;
  /**
   * Sets revokedAt to `at` unless it is already set; returns the token as it
   * is now (null if there is none of that id).
   */
  revokeToken(tokenId: string, at: Date): Promise<TokenRecord | null>;
  /** Records that the token was used at `at` (callers throttle how often). */
  touchToken(tokenId: string, at: Date): Promise<void>;
}
