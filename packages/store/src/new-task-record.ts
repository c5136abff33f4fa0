import { defaultsOf, type DefaultedKeys } from './fields/field.js';
import { TASK_FIELDS } from './fields/task-fields.js';
import type { TaskRecord } from './records.js';

/**
 * What a new task must say. Every other field may be left out: it gets its
 * default from TASK_FIELDS, status QUEUED, the task id as idempotency key
 * and the submission time as update time.
 */
export type NewTaskRecord = Omit<TaskRecord, DefaultedKeys<typeof TASK_FIELDS> | FilledIn> & Partial<TaskRecord>;

/** Fields without a table default that newTaskRecord fills in. */
type FilledIn = 'status' | 'idempotencyKey' | 'updatedAt';

/**
 * A complete task record for a new task: what `task` gives, defaults for
 * the rest. Building records here rather than field by field means a field
 * added to TASK_FIELDS reaches every caller.
 */
export function newTaskRecord(task: NewTaskRecord): TaskRecord {
  const given = Object.fromEntries(Object.entries(task).filter(([, v]) => v !== undefined)) as NewTaskRecord;
  return {
    ...defaultsOf(TASK_FIELDS),
    status: 'QUEUED',
    idempotencyKey: task.taskId,
    updatedAt: task.submittedAt,
    ...given,
  };
}
