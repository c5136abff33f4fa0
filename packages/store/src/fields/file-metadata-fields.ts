import { date, int, text } from './codecs.js';
import { field } from './field.js';

/** FILE_METADATA: a stored output file. Adding a field: as for TASK_FIELDS. */
export const FILE_METADATA_FIELDS = {
  taskId: field('task_id', text),
  taskName: field('task_name', text),
  userId: field('user_id', text),
  submittedAt: field('submitted_at', date),
  assignmentId: field('assignment_id', text),
  /** base name, e.g. "model.bin" */
  fileName: field('file_name', text),
  /** relative to the task's folder, '/'-separated, e.g. "models/model.bin" */
  filePath: field('file_path', text),
  /** the task's folder relative to the storage root: <user>/<task_name>/<submitted_at>/<task_id> (sanitized) */
  taskDir: field('task_dir', text),
  fileSize: field('file_size', int),
  sha256: field('sha256', text),
  storedAt: field('stored_at', date),
};
