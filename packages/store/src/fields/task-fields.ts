import type { Resources, TaskStatus } from '@cloudai/domain';
import { bool, date, env, int, list, nullable, object, real, strings, text, textOf } from './codecs.js';
import { field, type FieldsOf } from './field.js';

/** A task's requested resources, in the units users type: columns cpu, memory_gb, … in SQLite. */
export const RESOURCE_FIELDS = {
  cpu: field('cpu', real),
  memoryGb: field('memory_gb', real),
  storageGb: field('storage_gb', real),
  gpu: field('gpu', int),
} satisfies FieldsOf<Resources>;

export const OUTPUT_FILE_FIELDS = {
  path: field('path', text),
  size: field('size', int),
  sha256: field('sha256', text),
};

/**
 * TASKS. Adding a field: add it here with a default, and append a SQLite
 * MIGRATIONS step that adds its column (MongoDB reads the default where a
 * document lacks the field).
 */
export const TASK_FIELDS = {
  taskId: field('task_id', text),
  taskName: field('task_name', text),
  userId: field('user_id', text),
  image: field('image', text),
  command: field('command', strings, { default: [] }),
  env: field('env', env, { default: {} }),
  resources: field('resources', object(RESOURCE_FIELDS, { sqlitePrefix: '' })),
  timeoutSeconds: field('timeout_seconds', int),
  network: field('network', bool),
  status: field('status', textOf<TaskStatus>(), { patch: true }),
  reason: field('reason', text, { patch: true, default: '' }),
  /** 0 until first placed */
  attempt: field('attempt', int, { patch: true, default: 0 }),
  assignmentId: field('assignment_id', nullable(text), { patch: true }),
  workerId: field('worker_id', nullable(text), { patch: true }),
  pinnedWorkerId: field('pinned_worker_id', nullable(text)),
  exitCode: field('exit_code', nullable(int), { patch: true }),
  submittedAt: field('submitted_at', date),
  /** when the task last entered QUEUED: its submission, or the retry that took it back; null in records from before issue 11 */
  queuedAt: field('queued_at', nullable(date), { patch: true }),
  scheduledAt: field('scheduled_at', nullable(date), { patch: true }),
  startedAt: field('started_at', nullable(date), { patch: true }),
  /** when its worker reported UPLOADING for the current attempt */
  uploadingAt: field('uploading_at', nullable(date), { patch: true }),
  finishedAt: field('finished_at', nullable(date), { patch: true }),
  outputFiles: field('output_files', list(OUTPUT_FILE_FIELDS), { patch: true, default: [] }),
  outputBytes: field('output_bytes', int, { patch: true, default: 0 }),
  logBytes: field('log_bytes', int, { patch: true, default: 0 }),
  /** log bytes dropped: over the per-task cap, or by the worker's bounded buffers */
  logDroppedBytes: field('log_dropped_bytes', int, { patch: true, default: 0 }),
  /** when retention removed the task's log chunks; null while they are kept */
  logsPurgedAt: field('logs_purged_at', nullable(date), { patch: true }),
  /**
   * `<user_id>:<key>` when the client sent an idempotency key, else the
   * task id: always set, so a plain unique index enforces it (FerretDB v1
   * has no partial indexes).
   */
  idempotencyKey: field('idempotency_key', text),
  updatedAt: field('updated_at', date),
};
