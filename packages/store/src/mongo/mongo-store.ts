import mongoose, { type Connection, type FilterQuery, type UpdateQuery } from 'mongoose';
import type { ResourceUnits, TaskStatus, WorkerState } from '@cloudai/domain';
import type {
  AssignmentRecord,
  FileMetadataRecord,
  LogChunkRecord,
  LogQuery,
  LogStreamName,
  ResultRecord,
  TaskCondition,
  TaskFilter,
  TaskPatch,
  TaskRecord,
  Usage,
  WorkerRecord,
} from '../records.js';
import type { Store } from '../store.js';
import {
  checkByteCount,
  checkFilesOfTask,
  checkLimit,
  checkLogChunk,
  checkUnits,
  patchEntries,
  positionBound,
} from '../validate.js';
import { KeyedMutex } from './keyed-mutex.js';
import {
  createModels,
  ensureCollections,
  type AssignmentDoc,
  type FileMetadataDoc,
  type LogChunkDoc,
  type Models,
  type ResultDoc,
  type TaskDoc,
  type UnitsDoc,
  type WorkerDoc,
} from './schemas.js';

export interface MongoStoreOptions {
  /** Overrides the database named in the URI; without either, "cloudai". */
  dbName?: string;
}

/** The database named in a mongodb:// or mongodb+srv:// URI's path, if any. */
export function databaseInUri(uri: string): string | undefined {
  const match = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]+)/.exec(uri);
  return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}

/** How often releaseOnWorker retries its compare-and-set before giving up. */
const MAX_CAS_ATTEMPTS = 1000;

/**
 * FerretDB v1 executes an update as "query, then write the whole document
 * back by _id", with nothing re-checking the filter at write time: two
 * racing conditional updates can both win, and any write can undo a
 * concurrent one (a heartbeat writing back a stale `free`). Against it every
 * write to one document goes through this per-process lock. It is shared by
 * all stores in the process, so several stores over one database stay
 * correct; several processes over one FerretDB v1 are NOT safe. Real MongoDB
 * applies each single-document update atomically and needs no lock.
 */
const documentLocks = new KeyedMutex();

/**
 * Connects to MongoDB (or a wire-compatible server such as FerretDB v1) and
 * creates the collections and indexes. Every state change is one
 * single-document operation, so it needs neither a replica set nor
 * transactions (on FerretDB v1, see `documentLocks`).
 */
export async function openMongoStore(uri: string, opts: MongoStoreOptions = {}): Promise<Store> {
  // A dedicated connection, not mongoose's global one, so several stores
  // (tests, or a master and its storage service in one process) never share state.
  const conn = mongoose.createConnection(uri, {
    dbName: opts.dbName ?? databaseInUri(uri) ?? 'cloudai',
    autoIndex: false,
    autoCreate: false,
    serverSelectionTimeoutMS: 10_000,
  });
  try {
    await conn.asPromise();
    const models = createModels(conn);
    await ensureCollections(models);
    const info = await conn.db?.admin().command({ buildInfo: 1 });
    const ferretDb = info !== undefined && 'ferretdbVersion' in info;
    return new MongoStore(conn, models, !ferretDb);
  } catch (err) {
    await conn.close().catch(() => {});
    throw err;
  }
}

class MongoStore implements Store {
  readonly kind = 'mongodb' as const;

  constructor(
    private readonly conn: Connection,
    private readonly m: Models,
    /** false on FerretDB v1, whose single-document updates are not atomic */
    private readonly atomicUpdates: boolean,
  ) {}

  /** Runs a write to one document, serialized with other writes to it where the server needs that. */
  private writeOne<T>(collection: string, id: string, write: () => Promise<T>): Promise<T> {
    return this.atomicUpdates ? write() : this.locked(collection, id, write);
  }

  /** Serializes `section` with every other section on the same key in this process, on any server. */
  private locked<T>(collection: string, id: string, section: () => Promise<T>): Promise<T> {
    return documentLocks.run(`${this.conn.name}/${collection}/${id}`, section);
  }

  // --- TASKS

  async createTask(task: TaskRecord): Promise<{ task: TaskRecord; created: boolean }> {
    try {
      await this.m.tasks.create(taskToDoc(task));
      return { task: await this.requireTask(task.taskId), created: true };
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Lost an idempotency race (or a retry of an earlier create): the
      // winner's task is the answer. A duplicate task_id with a different
      // key is not idempotency, so it still fails.
      const existing = await this.m.tasks.findOne({ idempotency_key: task.idempotencyKey }).lean();
      if (!existing) throw err;
      return { task: docToTask(existing), created: false };
    }
  }

  async getTask(taskId: string): Promise<TaskRecord | null> {
    const doc = await this.m.tasks.findOne({ task_id: taskId }).lean();
    return doc ? docToTask(doc) : null;
  }

  async listTasks(filter: TaskFilter): Promise<TaskRecord[]> {
    checkLimit(filter.limit, 'listTasks limit');
    const q: FilterQuery<TaskDoc> = {};
    if (filter.userId !== undefined) q.user_id = filter.userId;
    if (filter.statuses !== undefined) q.status = { $in: [...filter.statuses] };
    if (filter.taskName !== undefined) q.task_name = filter.taskName;
    if (filter.workerId !== undefined) q.worker_id = filter.workerId;
    if (filter.finishedBefore !== undefined) q.finished_at = { $lt: filter.finishedBefore };
    // `null` also matches documents written before the field existed.
    if (filter.logsPurged !== undefined) q.logs_purged_at = filter.logsPurged ? { $ne: null } : null;
    const submitted: { $gt?: Date; $lt?: Date } = {};
    if (filter.submittedAfter !== undefined) submitted.$gt = filter.submittedAfter;
    if (filter.submittedBefore !== undefined) submitted.$lt = filter.submittedBefore;
    if (submitted.$gt || submitted.$lt) q.submitted_at = submitted;
    if (filter.before !== undefined) {
      const { submittedAt, taskId } = filter.before;
      q.$or = [{ submitted_at: { $lt: submittedAt } }, { submitted_at: submittedAt, task_id: { $lt: taskId } }];
    }
    const docs = await this.m.tasks.find(q).sort({ submitted_at: -1, task_id: -1 }).limit(filter.limit).lean();
    return docs.map(docToTask);
  }

  async listQueuedTasks(limit: number): Promise<TaskRecord[]> {
    checkLimit(limit, 'listQueuedTasks limit');
    const docs = await this.m.tasks
      .find({ status: 'QUEUED' })
      .sort({ submitted_at: 1, task_id: 1 })
      .limit(limit)
      .lean();
    return docs.map(docToTask);
  }

  async updateTask(taskId: string, condition: TaskCondition, patch: TaskPatch): Promise<TaskRecord | null> {
    const set: Record<string, unknown> = { updated_at: new Date() };
    for (const [field, value] of patchEntries(patch)) {
      if (field === 'outputFiles') set.output_files = value;
      else set[TASK_PATCH_FIELDS[field]] = value;
    }
    const q: FilterQuery<TaskDoc> = { task_id: taskId };
    if (condition.statuses !== undefined) q.status = { $in: [...condition.statuses] };
    if (condition.assignmentId !== undefined) q.assignment_id = condition.assignmentId;
    const doc = await this.writeOne('TASKS', taskId, () =>
      this.m.tasks.findOneAndUpdate(q, { $set: set } as UpdateQuery<TaskDoc>, { new: true }).lean(),
    );
    return doc ? docToTask(doc) : null;
  }

  async countTasksByStatus(userId?: string): Promise<Partial<Record<TaskStatus, number>>> {
    const rows = await this.m.tasks.aggregate<{ _id: TaskStatus; n: number }>([
      { $match: userId === undefined ? {} : { user_id: userId } },
      { $group: { _id: '$status', n: { $sum: 1 } } },
    ]);
    const counts: Partial<Record<TaskStatus, number>> = {};
    for (const r of rows) counts[r._id] = r.n;
    return counts;
  }

  private async requireTask(taskId: string): Promise<TaskRecord> {
    const t = await this.getTask(taskId);
    if (!t) throw new Error(`task ${taskId} vanished right after it was inserted`);
    return t;
  }

  // --- WORKERS

  async registerWorker(
    worker: Omit<WorkerRecord, 'state' | 'lastHeartbeat' | 'registeredAt'>,
    now: Date,
  ): Promise<WorkerRecord> {
    checkUnits(worker.capacity, 'capacity');
    checkUnits(worker.free, 'free');
    const set: Omit<WorkerDoc, 'worker_id'> = {
      address: worker.address,
      state: 'ALIVE',
      version: worker.version,
      capacity: unitsToDoc(worker.capacity),
      free: unitsToDoc(worker.free),
      usage: usageToDoc(worker.usage),
      last_heartbeat: now,
      registered_at: now,
    };
    // Two upserts of a new worker_id can race to insert; the loser sees a
    // duplicate key and, retried, updates the winner's document instead.
    for (let attempt = 0; ; attempt++) {
      try {
        const doc = await this.writeOne('WORKERS', worker.workerId, () =>
          this.m.workers
            .findOneAndUpdate({ worker_id: worker.workerId }, { $set: set }, { new: true, upsert: true })
            .lean(),
        );
        if (!doc) throw new Error(`registerWorker: upsert of ${worker.workerId} returned nothing`);
        return docToWorker(doc);
      } catch (err) {
        if (!isDuplicateKey(err) || attempt >= 2) throw err;
      }
    }
  }

  async getWorker(workerId: string): Promise<WorkerRecord | null> {
    const doc = await this.m.workers.findOne({ worker_id: workerId }).lean();
    return doc ? docToWorker(doc) : null;
  }

  async listWorkers(states?: readonly WorkerState[]): Promise<WorkerRecord[]> {
    const q: FilterQuery<WorkerDoc> = states === undefined ? {} : { state: { $in: [...states] } };
    const docs = await this.m.workers.find(q).sort({ worker_id: 1 }).lean();
    return docs.map(docToWorker);
  }

  async heartbeatWorker(
    workerId: string,
    usage: Usage,
    now: Date,
    states: readonly WorkerState[],
  ): Promise<WorkerRecord | null> {
    const doc = await this.writeOne('WORKERS', workerId, () =>
      this.m.workers
        .findOneAndUpdate(
          { worker_id: workerId, state: { $in: [...states] } },
          { $set: { last_heartbeat: now, usage: usageToDoc(usage) } },
          { new: true },
        )
        .lean(),
    );
    return doc ? docToWorker(doc) : null;
  }

  async setWorkerState(workerId: string, from: readonly WorkerState[], to: WorkerState): Promise<WorkerRecord | null> {
    const doc = await this.writeOne('WORKERS', workerId, () =>
      this.m.workers
        .findOneAndUpdate({ worker_id: workerId, state: { $in: [...from] } }, { $set: { state: to } }, { new: true })
        .lean(),
    );
    return doc ? docToWorker(doc) : null;
  }

  async listWorkersSilentSince(before: Date, states: readonly WorkerState[]): Promise<WorkerRecord[]> {
    const docs = await this.m.workers
      .find({ state: { $in: [...states] }, last_heartbeat: { $lt: before } })
      .sort({ last_heartbeat: 1, worker_id: 1 })
      .lean();
    return docs.map(docToWorker);
  }

  async reserveOnWorker(workerId: string, units: ResourceUnits): Promise<boolean> {
    checkUnits(units, 'units');
    const u = unitsToDoc(units);
    const filter = {
      worker_id: workerId,
      state: 'ALIVE',
      'free.cpu_millis': { $gte: u.cpu_millis },
      'free.memory_mb': { $gte: u.memory_mb },
      'free.storage_mb': { $gte: u.storage_mb },
      'free.gpu': { $gte: u.gpu },
    };
    const take = {
      $inc: {
        'free.cpu_millis': -u.cpu_millis,
        'free.memory_mb': -u.memory_mb,
        'free.storage_mb': -u.storage_mb,
        'free.gpu': -u.gpu,
      },
    };
    const res = await this.writeOne('WORKERS', workerId, () => this.m.workers.updateOne(filter, take));
    // matchedCount, not modifiedCount: a zero-unit reservation matches but
    // changes nothing, and it did fit.
    return res.matchedCount === 1;
  }

  async releaseOnWorker(workerId: string, units: ResourceUnits): Promise<void> {
    checkUnits(units, 'units');
    // Capped at capacity, like the SQLite MIN(): a release after a
    // re-registration (which resets free) must not leave the worker
    // advertising more than it has. Without pipeline updates or $expr
    // (FerretDB v1) the cap needs a read, so it is a compare-and-set on the
    // values read.
    await this.writeOne('WORKERS', workerId, () => this.releaseCas(workerId, units));
  }

  async resetWorkerFree(workerId: string, from: ResourceUnits, to: ResourceUnits): Promise<boolean> {
    checkUnits(from, 'from');
    checkUnits(to, 'to');
    const f = unitsToDoc(from);
    const filter = {
      worker_id: workerId,
      'free.cpu_millis': f.cpu_millis,
      'free.memory_mb': f.memory_mb,
      'free.storage_mb': f.storage_mb,
      'free.gpu': f.gpu,
    };
    const res = await this.writeOne('WORKERS', workerId, () =>
      this.m.workers.updateOne(filter, { $set: { free: unitsToDoc(to) } }),
    );
    return res.matchedCount === 1;
  }

  private async releaseCas(workerId: string, units: ResourceUnits): Promise<void> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const doc = await this.m.workers.findOne({ worker_id: workerId }).lean();
      if (!doc) return;
      const free: UnitsDoc = {
        cpu_millis: Math.min(doc.capacity.cpu_millis, doc.free.cpu_millis + units.cpuMillis),
        memory_mb: Math.min(doc.capacity.memory_mb, doc.free.memory_mb + units.memoryMb),
        storage_mb: Math.min(doc.capacity.storage_mb, doc.free.storage_mb + units.storageMb),
        gpu: Math.min(doc.capacity.gpu, doc.free.gpu + units.gpu),
      };
      const res = await this.m.workers.updateOne(
        {
          worker_id: workerId,
          'free.cpu_millis': doc.free.cpu_millis,
          'free.memory_mb': doc.free.memory_mb,
          'free.storage_mb': doc.free.storage_mb,
          'free.gpu': doc.free.gpu,
          'capacity.cpu_millis': doc.capacity.cpu_millis,
          'capacity.memory_mb': doc.capacity.memory_mb,
          'capacity.storage_mb': doc.capacity.storage_mb,
          'capacity.gpu': doc.capacity.gpu,
        },
        {
          $set: {
            'free.cpu_millis': free.cpu_millis,
            'free.memory_mb': free.memory_mb,
            'free.storage_mb': free.storage_mb,
            'free.gpu': free.gpu,
          },
        },
      );
      if (res.matchedCount === 1) return;
    }
    throw new Error(`releaseOnWorker: worker ${workerId} changed under ${MAX_CAS_ATTEMPTS} consecutive attempts`);
  }

  // --- ASSIGNMENTS

  async createAssignment(a: AssignmentRecord): Promise<void> {
    await this.m.assignments.create({
      assignment_id: a.assignmentId,
      task_id: a.taskId,
      worker_id: a.workerId,
      attempt: a.attempt,
      created_at: a.createdAt,
      outcome: a.outcome,
    } satisfies AssignmentDoc);
  }

  async getAssignment(assignmentId: string): Promise<AssignmentRecord | null> {
    const doc = await this.m.assignments.findOne({ assignment_id: assignmentId }).lean();
    return doc
      ? {
          assignmentId: doc.assignment_id,
          taskId: doc.task_id,
          workerId: doc.worker_id,
          attempt: doc.attempt,
          createdAt: doc.created_at,
          outcome: doc.outcome ?? null,
        }
      : null;
  }

  async finishAssignment(assignmentId: string, outcome: string): Promise<boolean> {
    const res = await this.writeOne('ASSIGNMENTS', assignmentId, () =>
      this.m.assignments.updateOne({ assignment_id: assignmentId, outcome: null }, { $set: { outcome } }),
    );
    return res.matchedCount === 1;
  }

  // --- RESULTS

  async putResult(r: ResultRecord): Promise<void> {
    const doc: ResultDoc = {
      task_id: r.taskId,
      worker_id: r.workerId,
      status: r.status,
      exit_code: r.exitCode,
      completed_at: r.completedAt,
      log_bytes: r.logBytes,
    };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.writeOne('RESULTS', r.taskId, () =>
          this.m.results.replaceOne({ task_id: r.taskId }, doc, { upsert: true }),
        );
        return;
      } catch (err) {
        // Concurrent first writes race to insert; retried, the loser replaces.
        if (!isDuplicateKey(err) || attempt >= 2) throw err;
      }
    }
  }

  async getResult(taskId: string): Promise<ResultRecord | null> {
    const doc = await this.m.results.findOne({ task_id: taskId }).lean();
    return doc
      ? {
          taskId: doc.task_id,
          workerId: doc.worker_id,
          status: doc.status as TaskStatus,
          exitCode: doc.exit_code ?? null,
          completedAt: doc.completed_at,
          logBytes: doc.log_bytes,
        }
      : null;
  }

  // --- LOG_CHUNKS

  async appendLogChunks(chunks: readonly LogChunkRecord[]): Promise<{ inserted: number; insertedBytes: number }> {
    for (const c of chunks) checkLogChunk(c);
    if (chunks.length === 0) return { inserted: 0, insertedBytes: 0 };
    const docs = chunks.map(logChunkToDoc);
    let skipped = new Set<number>();
    try {
      // The driver's collection, not the model: mongoose's insertMany reshapes
      // bulk errors, and the write-error indexes are what say which chunks
      // were already stored. Unordered, so one duplicate does not stop the
      // rest of the batch; FerretDB v1 behaves the same (checked, including
      // duplicates inside one batch and identical batches racing).
      await this.m.logChunks.collection.insertMany(docs, { ordered: false });
    } catch (err) {
      skipped = duplicateIndexes(err);
    }
    let inserted = 0;
    let insertedBytes = 0;
    chunks.forEach((c, i) => {
      if (skipped.has(i)) return;
      inserted++;
      insertedBytes += c.data.byteLength;
    });
    return { inserted, insertedBytes };
  }

  async readLogChunks(taskId: string, query: LogQuery): Promise<LogChunkRecord[]> {
    checkLimit(query.limit, 'readLogChunks limit');
    const q = logFilter(taskId, query);
    if (query.afterPosition !== undefined) {
      const { attempt, seq } = positionBound(query.afterPosition, 'afterPosition');
      q.$or = [{ attempt: { $gt: attempt } }, { attempt, seq: { $gt: seq } }];
    }
    const docs = await this.m.logChunks
      .find(q)
      .sort({ attempt: 1, seq: 1, assignment_id: 1 })
      .limit(query.limit)
      .lean();
    return docs.map(docToLogChunk);
  }

  async readLogChunksBackward(taskId: string, query: LogQuery): Promise<LogChunkRecord[]> {
    checkLimit(query.limit, 'readLogChunksBackward limit');
    const q = logFilter(taskId, query);
    if (query.beforePosition !== undefined) {
      const { attempt, seq } = positionBound(query.beforePosition, 'beforePosition');
      q.$or = [{ attempt: { $lt: attempt } }, { attempt, seq: { $lt: seq } }];
    }
    const docs = await this.m.logChunks
      .find(q)
      .sort({ attempt: -1, seq: -1, assignment_id: -1 })
      .limit(query.limit)
      .lean();
    return docs.map(docToLogChunk);
  }

  async deleteLogChunks(taskId: string): Promise<number> {
    const res = await this.m.logChunks.deleteMany({ task_id: taskId });
    return res.deletedCount;
  }

  async addLogBytes(taskId: string, storedBytes: number, droppedBytes: number): Promise<TaskRecord | null> {
    checkByteCount(storedBytes, 'storedBytes');
    checkByteCount(droppedBytes, 'droppedBytes');
    // $inc of a field missing in an old document starts it from 0.
    const doc = await this.writeOne('TASKS', taskId, () =>
      this.m.tasks
        .findOneAndUpdate(
          { task_id: taskId },
          { $inc: { log_bytes: storedBytes, log_dropped_bytes: droppedBytes }, $set: { updated_at: new Date() } },
          { new: true },
        )
        .lean(),
    );
    return doc ? docToTask(doc) : null;
  }

  // --- FILE_METADATA

  /**
   * Delete, then insert: without transactions a reader may briefly see no
   * files for the task between the two. Replaces of one task are serialized
   * in this process on every server, so a retry racing the first attempt
   * cannot interleave its delete and insert with it; the unique
   * (task_id, file_path) index means that even across processes a path is
   * never stored twice.
   */
  async replaceFileMetadata(taskId: string, files: readonly FileMetadataRecord[]): Promise<void> {
    checkFilesOfTask(taskId, files);
    await this.locked('FILE_METADATA', taskId, async () => {
      await this.m.fileMetadata.deleteMany({ task_id: taskId });
      if (files.length > 0) await this.m.fileMetadata.collection.insertMany(files.map(fileMetadataToDoc));
    });
  }

  async listFileMetadata(taskId: string): Promise<FileMetadataRecord[]> {
    const docs = await this.m.fileMetadata.find({ task_id: taskId }).sort({ file_path: 1 }).lean();
    return docs.map(docToFileMetadata);
  }

  async deleteFileMetadata(taskId: string): Promise<number> {
    const res = await this.locked('FILE_METADATA', taskId, () => this.m.fileMetadata.deleteMany({ task_id: taskId }));
    return res.deletedCount;
  }

  async listTasksWithFilesStoredBefore(before: Date, limit: number): Promise<string[]> {
    checkLimit(limit, 'listTasksWithFilesStoredBefore limit');
    // A cursor over the stored_at index, collecting task ids in order of
    // their oldest file, rather than a $group: it stops as soon as `limit`
    // tasks are found and needs no aggregation support from FerretDB.
    const ids: string[] = [];
    const seen = new Set<string>();
    const cursor = this.m.fileMetadata
      .find({ stored_at: { $lt: before } }, { task_id: 1, _id: 0 })
      .sort({ stored_at: 1, task_id: 1 })
      .lean()
      .cursor();
    try {
      for await (const doc of cursor) {
        if (seen.has(doc.task_id)) continue;
        seen.add(doc.task_id);
        ids.push(doc.task_id);
        if (ids.length >= limit) break;
      }
    } finally {
      await cursor.close();
    }
    return ids;
  }

  async clear(): Promise<void> {
    await Promise.all([
      this.m.tasks.deleteMany({}),
      this.m.workers.deleteMany({}),
      this.m.assignments.deleteMany({}),
      this.m.results.deleteMany({}),
      this.m.logChunks.deleteMany({}),
      this.m.fileMetadata.deleteMany({}),
    ]);
  }

  async close(): Promise<void> {
    await this.conn.close();
  }
}

const TASK_PATCH_FIELDS: Record<Exclude<keyof TaskPatch, 'outputFiles'>, keyof TaskDoc> = {
  status: 'status',
  reason: 'reason',
  attempt: 'attempt',
  assignmentId: 'assignment_id',
  workerId: 'worker_id',
  exitCode: 'exit_code',
  scheduledAt: 'scheduled_at',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  outputBytes: 'output_bytes',
  logBytes: 'log_bytes',
  logDroppedBytes: 'log_dropped_bytes',
  logsPurgedAt: 'logs_purged_at',
};

function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}

/**
 * The batch indexes an unordered insertMany skipped as duplicates. Any other
 * failure is rethrown: then some chunks may be stored and some not, and the
 * caller's resend of the whole batch is what makes that whole.
 */
function duplicateIndexes(err: unknown): Set<number> {
  if (!(err instanceof mongoose.mongo.MongoBulkWriteError)) throw err;
  const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  if (writeErrors.length === 0 || writeErrors.some((e) => e.code !== 11000)) throw err;
  return new Set(writeErrors.map((e) => e.index));
}

/** The filters readLogChunks and readLogChunksBackward share. */
function logFilter(taskId: string, query: LogQuery): FilterQuery<LogChunkDoc> {
  const q: FilterQuery<LogChunkDoc> = { task_id: taskId };
  if (query.streams !== undefined) q.stream = { $in: [...query.streams] };
  if (query.since !== undefined) q.ts = { $gte: query.since };
  return q;
}

function logChunkToDoc(c: LogChunkRecord): LogChunkDoc {
  return {
    task_id: c.taskId,
    assignment_id: c.assignmentId,
    attempt: c.attempt,
    seq: c.seq,
    stream: c.stream,
    ts: c.ts,
    // A view, not a copy: the driver serializes it straight into the message.
    data: Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength),
    marker: c.marker,
  };
}

/** `data` as a lean read returns it: see toBytes. */
function docToLogChunk(d: Omit<LogChunkDoc, 'data'> & { data: unknown }): LogChunkRecord {
  return {
    taskId: d.task_id,
    assignmentId: d.assignment_id,
    attempt: d.attempt,
    seq: d.seq,
    stream: d.stream as LogStreamName,
    ts: d.ts,
    data: toBytes(d.data),
    marker: d.marker,
  };
}

/**
 * Lean reads return BSON Binary for binary fields (a Buffer if the driver
 * was told to promote them). Either way the result is a fresh Uint8Array of
 * exactly the stored bytes, the same type the SQLite adapter returns.
 */
function toBytes(v: unknown): Uint8Array {
  if (v instanceof mongoose.mongo.Binary) return new Uint8Array(v.buffer.subarray(0, v.position));
  if (v instanceof Uint8Array) return new Uint8Array(v);
  throw new TypeError(`LOG_CHUNKS.data is not binary: ${typeof v}`);
}

function fileMetadataToDoc(f: FileMetadataRecord): FileMetadataDoc {
  return {
    task_id: f.taskId,
    task_name: f.taskName,
    user_id: f.userId,
    submitted_at: f.submittedAt,
    assignment_id: f.assignmentId,
    file_name: f.fileName,
    file_path: f.filePath,
    task_dir: f.taskDir,
    file_size: f.fileSize,
    sha256: f.sha256,
    stored_at: f.storedAt,
  };
}

function docToFileMetadata(d: FileMetadataDoc): FileMetadataRecord {
  return {
    taskId: d.task_id,
    taskName: d.task_name,
    userId: d.user_id,
    submittedAt: d.submitted_at,
    assignmentId: d.assignment_id,
    fileName: d.file_name,
    filePath: d.file_path,
    taskDir: d.task_dir,
    fileSize: d.file_size,
    sha256: d.sha256,
    storedAt: d.stored_at,
  };
}

function taskToDoc(t: TaskRecord): TaskDoc {
  return {
    task_id: t.taskId,
    task_name: t.taskName,
    user_id: t.userId,
    image: t.image,
    command: t.command,
    env: Object.entries(t.env).map(([name, value]) => ({ name, value })),
    resources: {
      cpu: t.resources.cpu,
      memory_gb: t.resources.memoryGb,
      storage_gb: t.resources.storageGb,
      gpu: t.resources.gpu,
    },
    timeout_seconds: t.timeoutSeconds,
    network: t.network,
    status: t.status,
    reason: t.reason,
    attempt: t.attempt,
    assignment_id: t.assignmentId,
    worker_id: t.workerId,
    pinned_worker_id: t.pinnedWorkerId,
    exit_code: t.exitCode,
    submitted_at: t.submittedAt,
    scheduled_at: t.scheduledAt,
    started_at: t.startedAt,
    finished_at: t.finishedAt,
    output_files: t.outputFiles.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    output_bytes: t.outputBytes,
    log_bytes: t.logBytes,
    log_dropped_bytes: t.logDroppedBytes,
    logs_purged_at: t.logsPurgedAt,
    idempotency_key: t.idempotencyKey,
    updated_at: t.updatedAt,
  };
}

function docToTask(d: TaskDoc): TaskRecord {
  // Object.fromEntries defines own properties, so an env name "__proto__"
  // stays data instead of replacing the object's prototype.
  const env: Record<string, string> = Object.fromEntries((d.env ?? []).map((e) => [e.name, e.value]));
  return {
    taskId: d.task_id,
    taskName: d.task_name,
    userId: d.user_id,
    image: d.image,
    command: [...(d.command ?? [])],
    env,
    resources: {
      cpu: d.resources.cpu,
      memoryGb: d.resources.memory_gb,
      storageGb: d.resources.storage_gb,
      gpu: d.resources.gpu,
    },
    timeoutSeconds: d.timeout_seconds,
    network: d.network,
    status: d.status as TaskStatus,
    reason: d.reason ?? '',
    attempt: d.attempt,
    assignmentId: d.assignment_id ?? null,
    workerId: d.worker_id ?? null,
    pinnedWorkerId: d.pinned_worker_id ?? null,
    exitCode: d.exit_code ?? null,
    submittedAt: d.submitted_at,
    scheduledAt: d.scheduled_at ?? null,
    startedAt: d.started_at ?? null,
    finishedAt: d.finished_at ?? null,
    outputFiles: (d.output_files ?? []).map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    outputBytes: d.output_bytes,
    logBytes: d.log_bytes,
    logDroppedBytes: d.log_dropped_bytes ?? 0,
    logsPurgedAt: d.logs_purged_at ?? null,
    idempotencyKey: d.idempotency_key,
    updatedAt: d.updated_at,
  };
}

function unitsToDoc(u: ResourceUnits): UnitsDoc {
  return { cpu_millis: u.cpuMillis, memory_mb: u.memoryMb, storage_mb: u.storageMb, gpu: u.gpu };
}

function docToUnits(d: UnitsDoc): ResourceUnits {
  return { cpuMillis: d.cpu_millis, memoryMb: d.memory_mb, storageMb: d.storage_mb, gpu: d.gpu };
}

function usageToDoc(u: Usage): WorkerDoc['usage'] {
  return {
    cpu_percent: u.cpuPercent,
    memory_used_gb: u.memoryUsedGb,
    load_average_1m: u.loadAverage1m,
    running_containers: u.runningContainers,
  };
}

function docToWorker(d: WorkerDoc): WorkerRecord {
  return {
    workerId: d.worker_id,
    address: d.address,
    state: d.state as WorkerState,
    capacity: docToUnits(d.capacity),
    free: docToUnits(d.free),
    usage: {
      cpuPercent: d.usage.cpu_percent,
      memoryUsedGb: d.usage.memory_used_gb,
      loadAverage1m: d.usage.load_average_1m,
      runningContainers: d.usage.running_containers,
    },
    version: d.version,
    lastHeartbeat: d.last_heartbeat,
    registeredAt: d.registered_at,
  };
}
