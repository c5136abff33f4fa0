import { ASSIGNMENT_FIELDS } from '../fields/assignment-fields.js';
import { EVENT_FIELDS } from '../fields/event-fields.js';
import { FILE_METADATA_FIELDS } from '../fields/file-metadata-fields.js';
import { TOKEN_FIELDS, USER_FIELDS } from '../fields/identity-fields.js';
import { LOG_CHUNK_FIELDS } from '../fields/log-chunk-fields.js';
import { RESULT_FIELDS } from '../fields/result-fields.js';
import { TASK_FIELDS } from '../fields/task-fields.js';
import { WORKER_FIELDS } from '../fields/worker-fields.js';
import { rowMapping } from './rows.js';

// Each table's rows, derived from its field table. The columns must be the
// ones MIGRATIONS creates (a test compares them).
export const TASK_ROWS = rowMapping(TASK_FIELDS);
export const WORKER_ROWS = rowMapping(WORKER_FIELDS);
export const ASSIGNMENT_ROWS = rowMapping(ASSIGNMENT_FIELDS);
export const RESULT_ROWS = rowMapping(RESULT_FIELDS);
export const LOG_CHUNK_ROWS = rowMapping(LOG_CHUNK_FIELDS);
export const FILE_METADATA_ROWS = rowMapping(FILE_METADATA_FIELDS);
export const USER_ROWS = rowMapping(USER_FIELDS);
export const TOKEN_ROWS = rowMapping(TOKEN_FIELDS);
export const EVENT_ROWS = rowMapping(EVENT_FIELDS);

/** Every table by name. */
export const TABLES = {
  TASKS: TASK_ROWS,
  WORKERS: WORKER_ROWS,
  ASSIGNMENTS: ASSIGNMENT_ROWS,
  RESULTS: RESULT_ROWS,
  LOG_CHUNKS: LOG_CHUNK_ROWS,
  FILE_METADATA: FILE_METADATA_ROWS,
  USERS: USER_ROWS,
  TOKENS: TOKEN_ROWS,
  EVENTS: EVENT_ROWS,
};
