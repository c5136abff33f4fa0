import { Schema, type Connection, type Model } from 'mongoose';

// Field names are snake_case, matching the seed collections and the SQLite
// columns, so data can be inspected the same way in both.

/** Every schema: no `__v` (updates are conditional on real fields instead), unknown fields are errors. */
const COMMON = { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false } as const;

export interface UnitsDoc {
  cpu_millis: number;
  memory_mb: number;
  storage_mb: number;
  gpu: number;
}

export interface TaskDoc {
  task_id: string;
  task_name: string;
  user_id: string;
  image: string;
  command: string[];
  /**
   * Name/value pairs rather than an object: env names come from users, and a
   * name containing "." or starting with "$" is not a safe MongoDB field name.
   */
  env: { name: string; value: string }[];
  resources: { cpu: number; memory_gb: number; storage_gb: number; gpu: number };
  timeout_seconds: number;
  network: boolean;
  status: string;
  reason: string;
  attempt: number;
  assignment_id: string | null;
  worker_id: string | null;
  pinned_worker_id: string | null;
  exit_code: number | null;
  submitted_at: Date;
  scheduled_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  output_files: { path: string; size: number; sha256: string }[];
  output_bytes: number;
  log_bytes: number;
  /** absent in documents written before issue 3: read as 0 */
  log_dropped_bytes?: number;
  /** absent in documents written before issue 3: read as null */
  logs_purged_at?: Date | null;
  idempotency_key: string;
  updated_at: Date;
}

export interface WorkerDoc {
  worker_id: string;
  address: string;
  state: string;
  version: string;
  capacity: UnitsDoc;
  free: UnitsDoc;
  usage: { cpu_percent: number; memory_used_gb: number; load_average_1m: number; running_containers: number };
  last_heartbeat: Date;
  registered_at: Date;
}

export interface AssignmentDoc {
  assignment_id: string;
  task_id: string;
  worker_id: string;
  attempt: number;
  created_at: Date;
  outcome: string | null;
}

export interface LogChunkDoc {
  task_id: string;
  assignment_id: string;
  attempt: number;
  seq: number;
  stream: string;
  ts: Date;
  /** stored as BSON binary; read back (lean) as a mongodb Binary */
  data: Buffer;
  marker: boolean;
}

export interface FileMetadataDoc {
  task_id: string;
  task_name: string;
  user_id: string;
  submitted_at: Date;
  assignment_id: string;
  file_name: string;
  file_path: string;
  task_dir: string;
  file_size: number;
  sha256: string;
  stored_at: Date;
}

export interface ResultDoc {
  task_id: string;
  worker_id: string;
  status: string;
  exit_code: number | null;
  completed_at: Date;
  log_bytes: number;
}

// Strings that may legitimately be empty (reason, address, ...) are not
// `required`: mongoose's required validator rejects ''.
const units = {
  cpu_millis: { type: Number, required: true },
  memory_mb: { type: Number, required: true },
  storage_mb: { type: Number, required: true },
  gpu: { type: Number, required: true },
};

const taskSchema = new Schema<TaskDoc>(
  {
    task_id: { type: String, required: true },
    task_name: { type: String, required: true },
    user_id: { type: String, required: true },
    image: { type: String, required: true },
    command: { type: [String], default: [] },
    env: { type: [new Schema({ name: String, value: String }, { _id: false, ...COMMON })], default: [] },
    resources: {
      cpu: { type: Number, required: true },
      memory_gb: { type: Number, required: true },
      storage_gb: { type: Number, required: true },
      gpu: { type: Number, required: true },
    },
    timeout_seconds: { type: Number, required: true },
    network: { type: Boolean, required: true },
    status: { type: String, required: true },
    reason: { type: String, default: '' },
    attempt: { type: Number, required: true },
    assignment_id: { type: String, default: null },
    worker_id: { type: String, default: null },
    pinned_worker_id: { type: String, default: null },
    exit_code: { type: Number, default: null },
    submitted_at: { type: Date, required: true },
    scheduled_at: { type: Date, default: null },
    started_at: { type: Date, default: null },
    finished_at: { type: Date, default: null },
    output_files: {
      type: [new Schema({ path: String, size: Number, sha256: String }, { _id: false, ...COMMON })],
      default: [],
    },
    output_bytes: { type: Number, required: true },
    log_bytes: { type: Number, required: true },
    log_dropped_bytes: { type: Number, default: 0 },
    logs_purged_at: { type: Date, default: null },
    idempotency_key: { type: String, required: true },
    updated_at: { type: Date, required: true },
  },
  { collection: 'TASKS', ...COMMON },
);
taskSchema.index({ task_id: 1 }, { unique: true });
// Always set (to the task id when the client sent no key), so a plain unique
// index works; FerretDB v1 has no partial or sparse indexes.
taskSchema.index({ idempotency_key: 1 }, { unique: true });
taskSchema.index({ user_id: 1 });
taskSchema.index({ task_name: 1 });
taskSchema.index({ submitted_at: 1 });
taskSchema.index({ status: 1, submitted_at: 1 });
taskSchema.index({ worker_id: 1 });
// retention sweeps look for tasks that finished before a cutoff
taskSchema.index({ finished_at: 1 });

const workerSchema = new Schema<WorkerDoc>(
  {
    worker_id: { type: String, required: true },
    address: { type: String, default: '' },
    state: { type: String, required: true },
    version: { type: String, default: '' },
    capacity: units,
    free: units,
    usage: {
      cpu_percent: { type: Number, required: true },
      memory_used_gb: { type: Number, required: true },
      load_average_1m: { type: Number, required: true },
      running_containers: { type: Number, required: true },
    },
    last_heartbeat: { type: Date, required: true },
    registered_at: { type: Date, required: true },
  },
  { collection: 'WORKERS', ...COMMON },
);
workerSchema.index({ worker_id: 1 }, { unique: true });
workerSchema.index({ state: 1, last_heartbeat: 1 });

const assignmentSchema = new Schema<AssignmentDoc>(
  {
    assignment_id: { type: String, required: true },
    task_id: { type: String, required: true },
    worker_id: { type: String, required: true },
    attempt: { type: Number, required: true },
    created_at: { type: Date, required: true },
    outcome: { type: String, default: null },
  },
  { collection: 'ASSIGNMENTS', ...COMMON },
);
assignmentSchema.index({ assignment_id: 1 }, { unique: true });
assignmentSchema.index({ task_id: 1 });
assignmentSchema.index({ worker_id: 1 });

const resultSchema = new Schema<ResultDoc>(
  {
    task_id: { type: String, required: true },
    worker_id: { type: String, required: true },
    status: { type: String, required: true },
    exit_code: { type: Number, default: null },
    completed_at: { type: Date, required: true },
    log_bytes: { type: Number, required: true },
  },
  { collection: 'RESULTS', ...COMMON },
);
resultSchema.index({ task_id: 1 }, { unique: true });
resultSchema.index({ completed_at: 1 });

const logChunkSchema = new Schema<LogChunkDoc>(
  {
    task_id: { type: String, required: true },
    assignment_id: { type: String, required: true },
    attempt: { type: Number, required: true },
    seq: { type: Number, required: true },
    stream: { type: String, required: true },
    ts: { type: Date, required: true },
    data: { type: Buffer, required: true },
    marker: { type: Boolean, required: true },
  },
  { collection: 'LOG_CHUNKS', ...COMMON },
);
// Makes a resent batch a no-op: the duplicates fail with 11000 and are skipped.
logChunkSchema.index({ task_id: 1, assignment_id: 1, seq: 1 }, { unique: true });
// Reads go in log order, which logPosition() encodes as (attempt, seq).
logChunkSchema.index({ task_id: 1, attempt: 1, seq: 1 });

const fileMetadataSchema = new Schema<FileMetadataDoc>(
  {
    task_id: { type: String, required: true },
    task_name: { type: String, required: true },
    user_id: { type: String, required: true },
    submitted_at: { type: Date, required: true },
    assignment_id: { type: String, required: true },
    file_name: { type: String, required: true },
    file_path: { type: String, required: true },
    task_dir: { type: String, required: true },
    file_size: { type: Number, required: true },
    sha256: { type: String, required: true },
    stored_at: { type: Date, required: true },
  },
  { collection: 'FILE_METADATA', ...COMMON },
);
fileMetadataSchema.index({ task_id: 1, file_path: 1 }, { unique: true });
fileMetadataSchema.index({ user_id: 1 });
fileMetadataSchema.index({ task_name: 1 });
fileMetadataSchema.index({ submitted_at: 1 });
fileMetadataSchema.index({ stored_at: 1 });

export interface Models {
  tasks: Model<TaskDoc>;
  workers: Model<WorkerDoc>;
  assignments: Model<AssignmentDoc>;
  results: Model<ResultDoc>;
  logChunks: Model<LogChunkDoc>;
  fileMetadata: Model<FileMetadataDoc>;
}

export function createModels(conn: Connection): Models {
  return {
    tasks: conn.model<TaskDoc>('Task', taskSchema),
    workers: conn.model<WorkerDoc>('Worker', workerSchema),
    assignments: conn.model<AssignmentDoc>('Assignment', assignmentSchema),
    results: conn.model<ResultDoc>('Result', resultSchema),
    logChunks: conn.model<LogChunkDoc>('LogChunk', logChunkSchema),
    fileMetadata: conn.model<FileMetadataDoc>('FileMetadata', fileMetadataSchema),
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
