import mongoose, { type Connection, type FilterQuery } from 'mongoose';
import type { ResourceUnits, TaskStatus, WorkerState } from '@cloudai/domain';
import { checkedPatch } from '../fields/field.js';
import type { Stored } from '../fields/mapping.js';
import { TASK_FIELDS } from '../fields/task-fields.js';
import { UNIT_FIELDS } from '../fields/worker-fields.js';
import {
  NEWEST_FIRST,
  type AssignmentRecord,
  type EventQuery,
  type EventRecord,
  type FileMetadataRecord,
  type LogChunkRecord,
  type LogQuery,
  type NewEventRecord,
  type ResultRecord,
  type TaskCondition,
  type TaskFilter,
  type TaskPatch,
  type TaskRecord,
  type TaskSortKey,
  type TokenRecord,
  type Usage,
  type UserRecord,
  type WorkerRecord,
} from '../records.js';
import type { Store } from '../store.js';
import {
  checkByteCount,
  checkEventQuery,
  checkFilesOfTask,
  checkLimit,
  checkLogChunk,
  checkNewEvent,
  checkUnits,
  positionBound,
} from '../validate.js';
import { docMapping } from './documents.js';
import { KeyedMutex } from './keyed-mutex.js';
import {
  ASSIGNMENT_DOCS,
  EVENT_DOCS,
  FILE_METADATA_DOCS,
  LOG_CHUNK_DOCS,
  RESULT_DOCS,
  TASK_DOCS,
  TOKEN_DOCS,
  USER_DOCS,
  WORKER_DOCS,
  createModels,
  ensureCollections,
  type Models,
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

/** The field of a sort key other than submission time (which every order ends with). */
const SORT_FIELDS: Record<TaskSortKey, string | undefined> = { submittedAt: undefined, taskName: 'task_name', status: 'status' };

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
      await this.m.tasks.create(TASK_DOCS.encode(task));
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
    const q: FilterQuery<Stored> = {};
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
    const order = filter.order ?? NEWEST_FIRST;
    const sorted = SORT_FIELDS[order.key];
    const fields = sorted ? [sorted, 'submitted_at', 'task_id'] : ['submitted_at', 'task_id'];
    if (filter.after !== undefined) {
      const { after } = filter;
      const values: unknown[] = [after.submittedAt, after.taskId];
      if (sorted) values.unshift(order.key === 'taskName' ? after.taskName : after.status);
      // After the cursor in the order: a later first key, or the same and a later second, and so on.
      const past = order.ascending ? '$gt' : '$lt';
      q.$or = fields.map((field, i) => ({
        ...Object.fromEntries(fields.slice(0, i).map((f, j) => [f, values[j]])),
        [field]: { [past]: values[i] },
      }));
    }
    const direction = order.ascending ? 1 : -1;
    const sort = Object.fromEntries(fields.map((f) => [f, direction])) as Record<string, 1 | -1>;
    const docs = await this.m.tasks.find(q).sort(sort).limit(filter.limit).lean();
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
    const set = { updated_at: new Date(), ...TASK_DOCS.encodeSome(checkedPatch(TASK_FIELDS, patch, 'updateTask')) };
    const q: FilterQuery<Stored> = { task_id: taskId };
    if (condition.statuses !== undefined) q.status = { $in: [...condition.statuses] };
    if (condition.assignmentId !== undefined) q.assignment_id = condition.assignmentId;
    const doc = await this.writeOne('TASKS', taskId, () =>
      this.m.tasks.findOneAndUpdate(q, { $set: set }, { new: true }).lean(),
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
    const set = WORKER_DOCS.encode({ ...worker, state: 'ALIVE', lastHeartbeat: now, registeredAt: now });
    delete set.worker_id; // the filter sets it
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
    const q: FilterQuery<Stored> = states === undefined ? {} : { state: { $in: [...states] } };
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
          { $set: WORKER_DOCS.encodeSome({ lastHeartbeat: now, usage }) },
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
    const filter = { worker_id: workerId, state: 'ALIVE', ...unitPaths('free', units, (n) => ({ $gte: n })) };
    const take = { $inc: unitPaths('free', units, (n) => -n) };
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
    const filter = { worker_id: workerId, ...unitPaths('free', from) };
    const res = await this.writeOne('WORKERS', workerId, () =>
      this.m.workers.updateOne(filter, { $set: WORKER_DOCS.encodeSome({ free: to }) }),
    );
    return res.matchedCount === 1;
  }

  private async releaseCas(workerId: string, units: ResourceUnits): Promise<void> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const doc = await this.m.workers.findOne({ worker_id: workerId }).lean();
      if (!doc) return;
      const { capacity, free } = WORKER_DOCS.decode(doc);
      const released: ResourceUnits = {
        cpuMillis: Math.min(capacity.cpuMillis, free.cpuMillis + units.cpuMillis),
        memoryMb: Math.min(capacity.memoryMb, free.memoryMb + units.memoryMb),
        storageMb: Math.min(capacity.storageMb, free.storageMb + units.storageMb),
        gpu: Math.min(capacity.gpu, free.gpu + units.gpu),
      };
      const res = await this.m.workers.updateOne(
        { worker_id: workerId, ...unitPaths('free', free), ...unitPaths('capacity', capacity) },
        { $set: unitPaths('free', released) },
      );
      if (res.matchedCount === 1) return;
    }
    throw new Error(`releaseOnWorker: worker ${workerId} changed under ${MAX_CAS_ATTEMPTS} consecutive attempts`);
  }

  // --- ASSIGNMENTS

  async createAssignment(a: AssignmentRecord): Promise<void> {
    await this.m.assignments.create(ASSIGNMENT_DOCS.encode(a));
  }

  async getAssignment(assignmentId: string): Promise<AssignmentRecord | null> {
    const doc = await this.m.assignments.findOne({ assignment_id: assignmentId }).lean();
    return doc ? ASSIGNMENT_DOCS.decode(doc) : null;
  }

  async finishAssignment(assignmentId: string, outcome: string): Promise<boolean> {
    const res = await this.writeOne('ASSIGNMENTS', assignmentId, () =>
      this.m.assignments.updateOne({ assignment_id: assignmentId, outcome: null }, { $set: { outcome } }),
    );
    return res.matchedCount === 1;
  }

  // --- RESULTS

  async putResult(r: ResultRecord): Promise<void> {
    const doc = RESULT_DOCS.encode(r);
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
    return doc ? RESULT_DOCS.decode(doc) : null;
  }

  // --- LOG_CHUNKS

  async appendLogChunks(chunks: readonly LogChunkRecord[]): Promise<{ inserted: number; insertedBytes: number }> {
    for (const c of chunks) checkLogChunk(c);
    if (chunks.length === 0) return { inserted: 0, insertedBytes: 0 };
    const docs = chunks.map((c) => LOG_CHUNK_DOCS.encode(c));
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
    const after = query.afterPosition;
    const bound = after === undefined ? undefined : positionBound(after, 'afterPosition');
    return this.readChunks(taskId, query, 1, bound);
  }

  async readLogChunksBackward(taskId: string, query: LogQuery): Promise<LogChunkRecord[]> {
    checkLimit(query.limit, 'readLogChunksBackward limit');
    const before = query.beforePosition;
    const bound = before === undefined ? undefined : positionBound(before, 'beforePosition');
    return this.readChunks(taskId, query, -1, bound);
  }

  /** Chunks in log order (1) or newest first (-1), only those strictly past `bound` in that direction. */
  private async readChunks(
    taskId: string,
    query: LogQuery,
    order: 1 | -1,
    bound: { attempt: number; seq: number } | undefined,
  ): Promise<LogChunkRecord[]> {
    const q = logFilter(taskId, query);
    if (bound !== undefined) {
      const past = order === 1 ? '$gt' : '$lt';
      q.$or = [{ attempt: { [past]: bound.attempt } }, { attempt: bound.attempt, seq: { [past]: bound.seq } }];
    }
    const docs = await this.m.logChunks
      .find(q)
      .sort({ attempt: order, seq: order, assignment_id: order })
      .limit(query.limit)
      .lean();
    return docs.map((d) => LOG_CHUNK_DOCS.decode(d));
  }

  async lastLogSeq(taskId: string): Promise<{ attempt: number; seq: number } | null> {
    const doc = await this.m.logChunks
      .findOne({ task_id: taskId }, { attempt: 1, seq: 1 })
      .sort({ attempt: -1, seq: -1 })
      .lean<{ attempt: number; seq: number }>();
    return doc ? { attempt: Number(doc.attempt), seq: Number(doc.seq) } : null;
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
      if (files.length === 0) return;
      await this.m.fileMetadata.collection.insertMany(files.map((f) => FILE_METADATA_DOCS.encode(f)));
    });
  }

  async listFileMetadata(taskId: string): Promise<FileMetadataRecord[]> {
    const docs = await this.m.fileMetadata.find({ task_id: taskId }).sort({ file_path: 1 }).lean();
    return docs.map((d) => FILE_METADATA_DOCS.decode(d));
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
        const taskId = doc.task_id as string;
        if (seen.has(taskId)) continue;
        seen.add(taskId);
        ids.push(taskId);
        if (ids.length >= limit) break;
      }
    } finally {
      await cursor.close();
    }
    return ids;
  }

  // --- EVENTS

  /**
   * Takes the batch's seqs from the COUNTERS document in one $inc, then
   * inserts the batch in order. Appends are serialized in this process, so
   * no event becomes visible before one with a lower seq that this process
   * stores (what lets a follower resume after the last seq it saw); a crash
   * between the two steps leaves a gap, never a reused seq.
   */
  async appendEvents(events: readonly NewEventRecord[]): Promise<EventRecord[]> {
    for (const e of events) checkNewEvent(e);
    if (events.length === 0) return [];
    return this.locked('EVENTS', 'append', async () => {
      const last = await this.takeSequence('events', events.length);
      const stored = events.map((e, i): EventRecord => ({ ...e, seq: last - events.length + 1 + i }));
      await this.m.events.collection.insertMany(
        stored.map((e) => EVENT_DOCS.encode(e)),
        { ordered: true },
      );
      return stored;
    });
  }

  /** Adds `n` to the named counter (created at 0) and returns its new value. */
  private async takeSequence(name: string, n: number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        const doc = await this.m.counters
          .findOneAndUpdate({ name }, { $inc: { value: n } }, { new: true, upsert: true })
          .lean();
        if (!doc) throw new Error(`counter ${name}: upsert returned nothing`);
        return doc.value as number;
      } catch (err) {
        // Two processes creating the counter race to insert; retried, the loser increments.
        if (!isDuplicateKey(err) || attempt >= 2) throw err;
      }
    }
  }

  async listEvents(query: EventQuery): Promise<EventRecord[]> {
    checkEventQuery(query);
    const q: FilterQuery<Stored> = {
      seq: query.throughSeq === undefined ? { $gt: query.afterSeq ?? 0 } : { $gt: query.afterSeq ?? 0, $lte: query.throughSeq },
    };
    if (query.taskId !== undefined) q.task_id = query.taskId;
    if (query.workerId !== undefined) q.worker_id = query.workerId;
    if (query.taskOwner !== undefined) {
      if (query.taskId === undefined) q.task_id = { $ne: null };
      q.user_id = query.taskOwner;
    }
    if (query.since !== undefined) q.time = { $gte: query.since };
    const order = query.latest ? -1 : 1;
    const docs = await this.m.events.find(q).sort({ seq: order }).limit(query.limit).lean();
    const events = docs.map((d) => EVENT_DOCS.decode(d));
    return query.latest ? events.reverse() : events;
  }

  async lastEventSeq(): Promise<number> {
    const doc = await this.m.events.findOne({}, { seq: 1, _id: 0 }).sort({ seq: -1 }).lean();
    return doc ? (doc.seq as number) : 0;
  }

  async deleteEventsBefore(before: Date): Promise<number> {
    const res = await this.m.events.deleteMany({ time: { $lt: before } });
    return res.deletedCount;
  }

  // --- USERS and TOKENS

  async createUser(user: UserRecord): Promise<{ user: UserRecord; created: boolean }> {
    try {
      await this.m.users.create(USER_DOCS.encode(user));
      return { user, created: true };
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const existing = await this.getUser(user.userName);
      if (!existing) throw err;
      return { user: existing, created: false };
    }
  }

  async getUser(userName: string): Promise<UserRecord | null> {
    const doc = await this.m.users.findOne({ user_name: userName }).lean();
    return doc ? USER_DOCS.decode(doc) : null;
  }

  async listUsers(): Promise<UserRecord[]> {
    const docs = await this.m.users.find({}).sort({ user_name: 1 }).lean();
    return docs.map((d) => USER_DOCS.decode(d));
  }

  async countUsers(): Promise<number> {
    return this.m.users.countDocuments({});
  }

  async setUserDisabled(userName: string, disabled: boolean): Promise<UserRecord | null> {
    const doc = await this.writeOne('USERS', userName, () =>
      this.m.users.findOneAndUpdate({ user_name: userName }, { $set: { disabled } }, { new: true }).lean(),
    );
    return doc ? USER_DOCS.decode(doc) : null;
  }

  async createToken(token: TokenRecord): Promise<void> {
    await this.m.tokens.create(TOKEN_DOCS.encode(token));
  }

  async getToken(tokenId: string): Promise<TokenRecord | null> {
    const doc = await this.m.tokens.findOne({ token_id: tokenId }).lean();
    return doc ? TOKEN_DOCS.decode(doc) : null;
  }

  async listTokens(userName?: string): Promise<TokenRecord[]> {
    const docs = await this.m.tokens
      .find(userName === undefined ? {} : { user_name: userName })
      .sort({ created_at: 1, token_id: 1 })
      .lean();
    return docs.map((d) => TOKEN_DOCS.decode(d));
  }

  async revokeToken(tokenId: string, at: Date): Promise<TokenRecord | null> {
    await this.writeOne('TOKENS', tokenId, () =>
      this.m.tokens.updateOne({ token_id: tokenId, revoked_at: null }, { $set: { revoked_at: at } }),
    );
    return this.getToken(tokenId);
  }

  async touchToken(tokenId: string, at: Date): Promise<void> {
    await this.writeOne('TOKENS', tokenId, () =>
      this.m.tokens.updateOne({ token_id: tokenId }, { $set: { last_used_at: at } }),
    );
  }

  async clear(): Promise<void> {
    await Promise.all([
      this.m.tasks.deleteMany({}),
      this.m.workers.deleteMany({}),
      this.m.assignments.deleteMany({}),
      this.m.results.deleteMany({}),
      this.m.logChunks.deleteMany({}),
      this.m.fileMetadata.deleteMany({}),
      this.m.users.deleteMany({}),
      this.m.tokens.deleteMany({}),
      // COUNTERS stay: a seq is never handed out twice.
      this.m.events.deleteMany({}),
    ]);
  }

  async close(): Promise<void> {
    await this.conn.close();
  }
}

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
function logFilter(taskId: string, query: LogQuery): FilterQuery<Stored> {
  const q: FilterQuery<Stored> = { task_id: taskId };
  if (query.streams !== undefined) q.stream = { $in: [...query.streams] };
  if (query.since !== undefined) q.ts = { $gte: query.since };
  return q;
}

/** Units alone: { cpu_millis, memory_mb, … }. */
const UNIT_DOCS = docMapping(UNIT_FIELDS);

/**
 * `{ '<object>.cpu_millis': f(cpuMillis), … }`: one units object's fields
 * as dotted paths, for conditions and updates on each dimension.
 */
function unitPaths(
  object: 'free' | 'capacity',
  units: ResourceUnits,
  f: (n: number) => unknown = (n) => n,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(UNIT_DOCS.encode(units)).map(([field, n]) => [`${object}.${field}`, f(n as number)]),
  );
}

const docToTask = (doc: Stored) => TASK_DOCS.decode(doc);
const docToWorker = (doc: Stored) => WORKER_DOCS.decode(doc);
