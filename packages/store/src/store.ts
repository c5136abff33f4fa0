import type { ResourceUnits, TaskStatus, WorkerState } from '@cloudai/domain';
import type {
  AssignmentRecord,
  ResultRecord,
  TaskCondition,
  TaskFilter,
  TaskPatch,
  TaskRecord,
  Usage,
  WorkerRecord,
} from './records.js';

/**
 * The persistence port. Every state change is one conditional update of one
 * document/row, atomic under concurrent callers; there are no multi-record
 * transactions (FerretDB v1 and MongoDB without a replica set have none).
 * Both adapters pass the contract suite in `contract.ts`.
 *
 * FerretDB v1 does not apply a conditional update atomically (it reads, then
 * writes the whole document back); the Mongo adapter makes that safe by
 * serializing writes per document within one process only. Several
 * processes sharing one store need real MongoDB, or SQLite on one host.
 */
export interface Store {
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

  // --- ASSIGNMENTS
  createAssignment(assignment: AssignmentRecord): Promise<void>;
  getAssignment(assignmentId: string): Promise<AssignmentRecord | null>;
  /** Sets the outcome once; returns false if it already had one. */
  finishAssignment(assignmentId: string, outcome: string): Promise<boolean>;

  // --- RESULTS
  /** Writes the task's result; a second write for the same task replaces it. */
  putResult(result: ResultRecord): Promise<void>;
  getResult(taskId: string): Promise<ResultRecord | null>;

  /** Deletes everything (tests only). */
  clear(): Promise<void>;
  close(): Promise<void>;
}
