import { Schema, type Connection, type Model } from 'mongoose';
import { ASSIGNMENT_FIELDS } from '../fields/assignment-fields.js';
import { COUNTER_FIELDS, EVENT_FIELDS } from '../fields/event-fields.js';
import { FILE_METADATA_FIELDS } from '../fields/file-metadata-fields.js';
import { TOKEN_FIELDS, USER_FIELDS } from '../fields/identity-fields.js';
import { LOG_CHUNK_FIELDS } from '../fields/log-chunk-fields.js';
import type { Stored } from '../fields/mapping.js';
import { RESULT_FIELDS } from '../fields/result-fields.js';
import { TASK_FIELDS } from '../fields/task-fields.js';
import { WORKER_FIELDS } from '../fields/worker-fields.js';
import { docMapping, SCHEMA_OPTIONS } from './documents.js';

// Field names are snake_case, matching the seed collections and the SQLite
// columns, so data can be inspected the same way in both. The fields come
// from the field tables; this file adds collections and indexes.

export const TASK_DOCS = docMapping(TASK_FIELDS);
export const WORKER_DOCS = docMapping(WORKER_FIELDS);
export const ASSIGNMENT_DOCS = docMapping(ASSIGNMENT_FIELDS);
export const RESULT_DOCS = docMapping(RESULT_FIELDS);
export const LOG_CHUNK_DOCS = docMapping(LOG_CHUNK_FIELDS);
export const FILE_METADATA_DOCS = docMapping(FILE_METADATA_FIELDS);
export const USER_DOCS = docMapping(USER_FIELDS);
export const TOKEN_DOCS = docMapping(TOKEN_FIELDS);
export const EVENT_DOCS = docMapping(EVENT_FIELDS);
export const COUNTER_DOCS = docMapping(COUNTER_FIELDS);

const taskSchema = new Schema<Stored>(TASK_DOCS.definition, { collection: 'TASKS', ...SCHEMA_OPTIONS });
taskSchema.index({ task_id: 1 }, { unique: true });
// Always set (to the task id when the client sent no key), so a plain unique
// index works; FerretDB v1 has no partial or sparse indexes.
taskSchema.index({ idempotency_key: 1 }, { unique: true });
taskSchema.index({ user_id: 1 });
taskSchema.index({ task_name: 1 });
taskSchema.index({ submitted_at: 1 });
taskSchema.index({ status: 1, submitted_at: 1 });
// a user's newest tasks, with or without a status filter (the console's task table)
taskSchema.index({ user_id: 1, submitted_at: 1, task_id: 1 });
taskSchema.index({ user_id: 1, status: 1, submitted_at: 1, task_id: 1 });
// the task table sorted by name (a user's, or everyone's) and everyone's by status
taskSchema.index({ user_id: 1, task_name: 1, submitted_at: 1, task_id: 1 });
taskSchema.index({ task_name: 1, submitted_at: 1, task_id: 1 });
taskSchema.index({ status: 1, submitted_at: 1, task_id: 1 });
taskSchema.index({ worker_id: 1 });
// retention sweeps look for tasks that finished before a cutoff
taskSchema.index({ finished_at: 1 });

const workerSchema = new Schema<Stored>(WORKER_DOCS.definition, { collection: 'WORKERS', ...SCHEMA_OPTIONS });
workerSchema.index({ worker_id: 1 }, { unique: true });
workerSchema.index({ state: 1, last_heartbeat: 1 });

const assignmentSchema = new Schema<Stored>(ASSIGNMENT_DOCS.definition, {
  collection: 'ASSIGNMENTS',
  ...SCHEMA_OPTIONS,
});
assignmentSchema.index({ assignment_id: 1 }, { unique: true });
assignmentSchema.index({ task_id: 1 });
assignmentSchema.index({ worker_id: 1 });

const resultSchema = new Schema<Stored>(RESULT_DOCS.definition, { collection: 'RESULTS', ...SCHEMA_OPTIONS });
resultSchema.index({ task_id: 1 }, { unique: true });
resultSchema.index({ completed_at: 1 });

const logChunkSchema = new Schema<Stored>(LOG_CHUNK_DOCS.definition, { collection: 'LOG_CHUNKS', ...SCHEMA_OPTIONS });
// Makes a resent batch a no-op: the duplicates fail with 11000 and are skipped.
logChunkSchema.index({ task_id: 1, assignment_id: 1, seq: 1 }, { unique: true });
// Reads go in log order, which logPosition() encodes as (attempt, seq).
logChunkSchema.index({ task_id: 1, attempt: 1, seq: 1 });

const fileMetadataSchema = new Schema<Stored>(FILE_METADATA_DOCS.definition, {
  collection: 'FILE_METADATA',
  ...SCHEMA_OPTIONS,
});
fileMetadataSchema.index({ task_id: 1, file_path: 1 }, { unique: true });
fileMetadataSchema.index({ user_id: 1 });
fileMetadataSchema.index({ task_name: 1 });
fileMetadataSchema.index({ submitted_at: 1 });
fileMetadataSchema.index({ stored_at: 1 });

const userSchema = new Schema<Stored>(USER_DOCS.definition, { collection: 'USERS', ...SCHEMA_OPTIONS });
userSchema.index({ user_name: 1 }, { unique: true });

const tokenSchema = new Schema<Stored>(TOKEN_DOCS.definition, { collection: 'TOKENS', ...SCHEMA_OPTIONS });
tokenSchema.index({ token_id: 1 }, { unique: true });
tokenSchema.index({ user_name: 1 });

const eventSchema = new Schema<Stored>(EVENT_DOCS.definition, { collection: 'EVENTS', ...SCHEMA_OPTIONS });
eventSchema.index({ seq: 1 }, { unique: true });
eventSchema.index({ task_id: 1, seq: 1 });
eventSchema.index({ worker_id: 1, seq: 1 });
eventSchema.index({ user_id: 1, seq: 1 });
// retention removes events older than a cutoff
eventSchema.index({ time: 1 });

const counterSchema = new Schema<Stored>(COUNTER_DOCS.definition, { collection: 'COUNTERS', ...SCHEMA_OPTIONS });
counterSchema.index({ name: 1 }, { unique: true });

export interface Models {
  tasks: Model<Stored>;
  workers: Model<Stored>;
  assignments: Model<Stored>;
  results: Model<Stored>;
  logChunks: Model<Stored>;
  fileMetadata: Model<Stored>;
  users: Model<Stored>;
  tokens: Model<Stored>;
  events: Model<Stored>;
  counters: Model<Stored>;
}

export function createModels(conn: Connection): Models {
  return {
    tasks: conn.model<Stored>('Task', taskSchema),
    workers: conn.model<Stored>('Worker', workerSchema),
    assignments: conn.model<Stored>('Assignment', assignmentSchema),
    results: conn.model<Stored>('Result', resultSchema),
    logChunks: conn.model<Stored>('LogChunk', logChunkSchema),
    fileMetadata: conn.model<Stored>('FileMetadata', fileMetadataSchema),
    users: conn.model<Stored>('User', userSchema),
    tokens: conn.model<Stored>('Token', tokenSchema),
    events: conn.model<Stored>('Event', eventSchema),
    counters: conn.model<Stored>('Counter', counterSchema),
  };
}

/**
 * Creates the collections and their indexes explicitly (autoIndex is off so
 * that index builds happen here, at open, and failures surface as an error
 * instead of an unhandled background event).
 */
export async function ensureCollections(models: Models): Promise<void> {
  for (const model of Object.values(models) as Model<unknown>[]) {
    await model.createCollection();
    await model.createIndexes();
  }
}
