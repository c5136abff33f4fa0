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

export interface Models {
  tasks: Model<TaskDoc>;
  workers: Model<WorkerDoc>;
  assignments: Model<AssignmentDoc>;
  results: Model<ResultDoc>;
}

export function createModels(conn: Connection): Models {
  return {
    tasks: conn.model<TaskDoc>('Task', taskSchema),
    workers: conn.model<WorkerDoc>('Worker', workerSchema),
    assignments: conn.model<AssignmentDoc>('Assignment', assignmentSchema),
    results: conn.model<ResultDoc>('Result', resultSchema),
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
