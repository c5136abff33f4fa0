import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { ResourceUnits, TaskStatus, WorkerState } from '@cloudai/domain';
import type {
  AssignmentRecord,
  FileMetadataRecord,
  LogChunkRecord,
  LogQuery,
  LogStreamName,
  OutputFileRecord,
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
import { migrate } from './schema.js';

/** How long a write waits for another process's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 10_000;

type Row = Record<string, SQLInputValue>;

/**
 * Opens (creating and migrating if needed) the SQLite store at `path`;
 * `':memory:'` gives a private in-memory database.
 */
export async function openSqliteStore(path: string): Promise<Store> {
  const db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    // WAL lets readers proceed while one writer commits; NORMAL is durable
    // across application crashes and only risks the last commits on power loss.
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteStore(db);
}

const TASK_PATCH_COLUMNS: Record<keyof TaskPatch, { column: string; encode: (v: never) => SQLInputValue }> = {
  status: { column: 'status', encode: (v: string) => v },
  reason: { column: 'reason', encode: (v: string) => v },
  attempt: { column: 'attempt', encode: (v: number) => v },
  assignmentId: { column: 'assignment_id', encode: (v: string | null) => v },
  workerId: { column: 'worker_id', encode: (v: string | null) => v },
  exitCode: { column: 'exit_code', encode: (v: number | null) => v },
  scheduledAt: { column: 'scheduled_at', encode: encodeDate },
  startedAt: { column: 'started_at', encode: encodeDate },
  finishedAt: { column: 'finished_at', encode: encodeDate },
  outputFiles: { column: 'output_files', encode: (v: OutputFileRecord[]) => JSON.stringify(v) },
  outputBytes: { column: 'output_bytes', encode: (v: number) => v },
  logBytes: { column: 'log_bytes', encode: (v: number) => v },
  logDroppedBytes: { column: 'log_dropped_bytes', encode: (v: number) => v },
  logsPurgedAt: { column: 'logs_purged_at', encode: encodeDate },
};

class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly statements = new Map<string, StatementSync>();
  private closed = false;

  constructor(private readonly db: DatabaseSync) {}

  /** Prepares each distinct SQL text once; dynamic queries have few shapes, so the cache stays small. */
  private stmt(sql: string): StatementSync {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  // --- TASKS

  async createTask(task: TaskRecord): Promise<{ task: TaskRecord; created: boolean }> {
    const inserted = this.stmt(
      `INSERT INTO TASKS (
         task_id, task_name, user_id, image, command, env, cpu, memory_gb, storage_gb, gpu,
         timeout_seconds, network, status, reason, attempt, assignment_id, worker_id, pinned_worker_id,
         exit_code, submitted_at, scheduled_at, started_at, finished_at, output_files, output_bytes,
         log_bytes, log_dropped_bytes, logs_purged_at, idempotency_key, updated_at)
       VALUES (
         :task_id, :task_name, :user_id, :image, :command, :env, :cpu, :memory_gb, :storage_gb, :gpu,
         :timeout_seconds, :network, :status, :reason, :attempt, :assignment_id, :worker_id, :pinned_worker_id,
         :exit_code, :submitted_at, :scheduled_at, :started_at, :finished_at, :output_files, :output_bytes,
         :log_bytes, :log_dropped_bytes, :logs_purged_at, :idempotency_key, :updated_at)
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING *`,
    ).get(taskToRow(task));
    if (inserted) return { task: rowToTask(inserted), created: true };
    const existing = this.stmt('SELECT * FROM TASKS WHERE idempotency_key = ?').get(task.idempotencyKey);
    if (!existing) {
      throw new Error(`createTask: insert of ${task.taskId} conflicted but no task holds its idempotency key`);
    }
    return { task: rowToTask(existing), created: false };
  }

  async getTask(taskId: string): Promise<TaskRecord | null> {
    const row = this.stmt('SELECT * FROM TASKS WHERE task_id = ?').get(taskId);
    return row ? rowToTask(row) : null;
  }

  async listTasks(filter: TaskFilter): Promise<TaskRecord[]> {
    checkLimit(filter.limit, 'listTasks limit');
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.userId !== undefined) {
      where.push('user_id = ?');
      params.push(filter.userId);
    }
    if (filter.statuses !== undefined) {
      where.push('status IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(filter.statuses));
    }
    if (filter.taskName !== undefined) {
      where.push('task_name = ?');
      params.push(filter.taskName);
    }
    if (filter.submittedAfter !== undefined) {
      where.push('submitted_at > ?');
      params.push(filter.submittedAfter.getTime());
    }
    if (filter.submittedBefore !== undefined) {
      where.push('submitted_at < ?');
      params.push(filter.submittedBefore.getTime());
    }
    if (filter.finishedBefore !== undefined) {
      where.push('finished_at < ?');
      params.push(filter.finishedBefore.getTime());
    }
    if (filter.logsPurged !== undefined) {
      where.push(filter.logsPurged ? 'logs_purged_at IS NOT NULL' : 'logs_purged_at IS NULL');
    }
    if (filter.workerId !== undefined) {
      where.push('worker_id = ?');
      params.push(filter.workerId);
    }
    if (filter.before !== undefined) {
      where.push('(submitted_at, task_id) < (?, ?)');
      params.push(filter.before.submittedAt.getTime(), filter.before.taskId);
    }
    params.push(filter.limit);
    const sql =
      `SELECT * FROM TASKS${where.length ? ` WHERE ${where.join(' AND ')}` : ''}` +
      ' ORDER BY submitted_at DESC, task_id DESC LIMIT ?';
    return this.stmt(sql).all(...params).map(rowToTask);
  }

  async listQueuedTasks(limit: number): Promise<TaskRecord[]> {
    checkLimit(limit, 'listQueuedTasks limit');
    return this.stmt(`SELECT * FROM TASKS WHERE status = 'QUEUED' ORDER BY submitted_at ASC, task_id ASC LIMIT ?`)
      .all(limit)
      .map(rowToTask);
  }

  async updateTask(taskId: string, condition: TaskCondition, patch: TaskPatch): Promise<TaskRecord | null> {
    const set: string[] = ['updated_at = ?'];
    const params: SQLInputValue[] = [Date.now()];
    for (const [field, value] of patchEntries(patch)) {
      const col = TASK_PATCH_COLUMNS[field];
      set.push(`${col.column} = ?`);
      params.push(col.encode(value as never));
    }
    const where: string[] = ['task_id = ?'];
    params.push(taskId);
    if (condition.statuses !== undefined) {
      where.push('status IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(condition.statuses));
    }
    if (condition.assignmentId === null) {
      where.push('assignment_id IS NULL');
    } else if (condition.assignmentId !== undefined) {
      where.push('assignment_id = ?');
      params.push(condition.assignmentId);
    }
    const row = this.stmt(`UPDATE TASKS SET ${set.join(', ')} WHERE ${where.join(' AND ')} RETURNING *`).get(...params);
    return row ? rowToTask(row) : null;
  }

  async countTasksByStatus(userId?: string): Promise<Partial<Record<TaskStatus, number>>> {
    const rows =
      userId === undefined
        ? this.stmt('SELECT status, COUNT(*) AS n FROM TASKS GROUP BY status').all()
        : this.stmt('SELECT status, COUNT(*) AS n FROM TASKS WHERE user_id = ? GROUP BY status').all(userId);
    const counts: Partial<Record<TaskStatus, number>> = {};
    for (const r of rows) counts[r.status as TaskStatus] = r.n as number;
    return counts;
  }

  // --- WORKERS

  async registerWorker(
    worker: Omit<WorkerRecord, 'state' | 'lastHeartbeat' | 'registeredAt'>,
    now: Date,
  ): Promise<WorkerRecord> {
    checkUnits(worker.capacity, 'capacity');
    checkUnits(worker.free, 'free');
    const row = this.stmt(
      `INSERT INTO WORKERS (
         worker_id, address, state, version,
         capacity_cpu_millis, capacity_memory_mb, capacity_storage_mb, capacity_gpu,
         free_cpu_millis, free_memory_mb, free_storage_mb, free_gpu,
         usage_cpu_percent, usage_memory_used_gb, usage_load_average_1m, usage_running_containers,
         last_heartbeat, registered_at)
       VALUES (
         :worker_id, :address, 'ALIVE', :version,
         :capacity_cpu_millis, :capacity_memory_mb, :capacity_storage_mb, :capacity_gpu,
         :free_cpu_millis, :free_memory_mb, :free_storage_mb, :free_gpu,
         :usage_cpu_percent, :usage_memory_used_gb, :usage_load_average_1m, :usage_running_containers,
         :now, :now)
       ON CONFLICT (worker_id) DO UPDATE SET
         address = excluded.address, state = excluded.state, version = excluded.version,
         capacity_cpu_millis = excluded.capacity_cpu_millis, capacity_memory_mb = excluded.capacity_memory_mb,
         capacity_storage_mb = excluded.capacity_storage_mb, capacity_gpu = excluded.capacity_gpu,
         free_cpu_millis = excluded.free_cpu_millis, free_memory_mb = excluded.free_memory_mb,
         free_storage_mb = excluded.free_storage_mb, free_gpu = excluded.free_gpu,
         usage_cpu_percent = excluded.usage_cpu_percent, usage_memory_used_gb = excluded.usage_memory_used_gb,
         usage_load_average_1m = excluded.usage_load_average_1m,
         usage_running_containers = excluded.usage_running_containers,
         last_heartbeat = excluded.last_heartbeat, registered_at = excluded.registered_at
       RETURNING *`,
    ).get({
      worker_id: worker.workerId,
      address: worker.address,
      version: worker.version,
      ...unitColumns('capacity', worker.capacity),
      ...unitColumns('free', worker.free),
      ...usageColumns(worker.usage),
      now: now.getTime(),
    });
    return rowToWorker(required(row, 'registerWorker'));
  }

  async getWorker(workerId: string): Promise<WorkerRecord | null> {
    const row = this.stmt('SELECT * FROM WORKERS WHERE worker_id = ?').get(workerId);
    return row ? rowToWorker(row) : null;
  }

  async listWorkers(states?: readonly WorkerState[]): Promise<WorkerRecord[]> {
    const rows =
      states === undefined
        ? this.stmt('SELECT * FROM WORKERS ORDER BY worker_id').all()
        : this.stmt('SELECT * FROM WORKERS WHERE state IN (SELECT value FROM json_each(?)) ORDER BY worker_id').all(
            JSON.stringify(states),
          );
    return rows.map(rowToWorker);
  }

  async heartbeatWorker(
    workerId: string,
    usage: Usage,
    now: Date,
    states: readonly WorkerState[],
  ): Promise<WorkerRecord | null> {
    const row = this.stmt(
      `UPDATE WORKERS SET
         last_heartbeat = :now,
         usage_cpu_percent = :usage_cpu_percent, usage_memory_used_gb = :usage_memory_used_gb,
         usage_load_average_1m = :usage_load_average_1m, usage_running_containers = :usage_running_containers
       WHERE worker_id = :worker_id AND state IN (SELECT value FROM json_each(:states))
       RETURNING *`,
    ).get({ worker_id: workerId, now: now.getTime(), states: JSON.stringify(states), ...usageColumns(usage) });
    return row ? rowToWorker(row) : null;
  }

  async setWorkerState(workerId: string, from: readonly WorkerState[], to: WorkerState): Promise<WorkerRecord | null> {
    const row = this.stmt(
      `UPDATE WORKERS SET state = ? WHERE worker_id = ? AND state IN (SELECT value FROM json_each(?)) RETURNING *`,
    ).get(to, workerId, JSON.stringify(from));
    return row ? rowToWorker(row) : null;
  }

  async listWorkersSilentSince(before: Date, states: readonly WorkerState[]): Promise<WorkerRecord[]> {
    return this.stmt(
      `SELECT * FROM WORKERS
       WHERE state IN (SELECT value FROM json_each(?)) AND last_heartbeat < ?
       ORDER BY last_heartbeat, worker_id`,
    )
      .all(JSON.stringify(states), before.getTime())
      .map(rowToWorker);
  }

  async reserveOnWorker(workerId: string, units: ResourceUnits): Promise<boolean> {
    checkUnits(units, 'units');
    const result = this.stmt(
      `UPDATE WORKERS SET
         free_cpu_millis = free_cpu_millis - :cpu_millis,
         free_memory_mb = free_memory_mb - :memory_mb,
         free_storage_mb = free_storage_mb - :storage_mb,
         free_gpu = free_gpu - :gpu
       WHERE worker_id = :worker_id AND state = 'ALIVE'
         AND free_cpu_millis >= :cpu_millis AND free_memory_mb >= :memory_mb
         AND free_storage_mb >= :storage_mb AND free_gpu >= :gpu`,
    ).run({ worker_id: workerId, ...unitParams(units) });
    return Number(result.changes) === 1;
  }

  async resetWorkerFree(workerId: string, from: ResourceUnits, to: ResourceUnits): Promise<boolean> {
    checkUnits(from, 'from');
    checkUnits(to, 'to');
    const result = this.stmt(
      `UPDATE WORKERS SET
         free_cpu_millis = :to_cpu, free_memory_mb = :to_memory, free_storage_mb = :to_storage, free_gpu = :to_gpu
       WHERE worker_id = :worker_id
         AND free_cpu_millis = :from_cpu AND free_memory_mb = :from_memory
         AND free_storage_mb = :from_storage AND free_gpu = :from_gpu`,
    ).run({
      worker_id: workerId,
      from_cpu: from.cpuMillis,
      from_memory: from.memoryMb,
      from_storage: from.storageMb,
      from_gpu: from.gpu,
      to_cpu: to.cpuMillis,
      to_memory: to.memoryMb,
      to_storage: to.storageMb,
      to_gpu: to.gpu,
    });
    return Number(result.changes) === 1;
  }

  async releaseOnWorker(workerId: string, units: ResourceUnits): Promise<void> {
    checkUnits(units, 'units');
    // Capped at capacity: a release after a re-registration (which resets
    // free) must not leave the worker advertising more than it has.
    this.stmt(
      `UPDATE WORKERS SET
         free_cpu_millis = MIN(capacity_cpu_millis, free_cpu_millis + :cpu_millis),
         free_memory_mb = MIN(capacity_memory_mb, free_memory_mb + :memory_mb),
         free_storage_mb = MIN(capacity_storage_mb, free_storage_mb + :storage_mb),
         free_gpu = MIN(capacity_gpu, free_gpu + :gpu)
       WHERE worker_id = :worker_id`,
    ).run({ worker_id: workerId, ...unitParams(units) });
  }

  // --- ASSIGNMENTS

  async createAssignment(a: AssignmentRecord): Promise<void> {
    this.stmt(
      `INSERT INTO ASSIGNMENTS (assignment_id, task_id, worker_id, attempt, created_at, outcome)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(a.assignmentId, a.taskId, a.workerId, a.attempt, a.createdAt.getTime(), a.outcome);
  }

  async getAssignment(assignmentId: string): Promise<AssignmentRecord | null> {
    const row = this.stmt('SELECT * FROM ASSIGNMENTS WHERE assignment_id = ?').get(assignmentId);
    return row ? rowToAssignment(row) : null;
  }

  async finishAssignment(assignmentId: string, outcome: string): Promise<boolean> {
    const result = this.stmt('UPDATE ASSIGNMENTS SET outcome = ? WHERE assignment_id = ? AND outcome IS NULL').run(
      outcome,
      assignmentId,
    );
    return Number(result.changes) === 1;
  }

  // --- RESULTS

  async putResult(r: ResultRecord): Promise<void> {
    this.stmt(
      `INSERT INTO RESULTS (task_id, worker_id, status, exit_code, completed_at, log_bytes)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (task_id) DO UPDATE SET
         worker_id = excluded.worker_id, status = excluded.status, exit_code = excluded.exit_code,
         completed_at = excluded.completed_at, log_bytes = excluded.log_bytes`,
    ).run(r.taskId, r.workerId, r.status, r.exitCode, r.completedAt.getTime(), r.logBytes);
  }

  async getResult(taskId: string): Promise<ResultRecord | null> {
    const row = this.stmt('SELECT * FROM RESULTS WHERE task_id = ?').get(taskId);
    return row ? rowToResult(row) : null;
  }

  // --- LOG_CHUNKS

  async appendLogChunks(chunks: readonly LogChunkRecord[]): Promise<{ inserted: number; insertedBytes: number }> {
    for (const c of chunks) checkLogChunk(c);
    if (chunks.length === 0) return { inserted: 0, insertedBytes: 0 };
    const insert = this.stmt(
      `INSERT OR IGNORE INTO LOG_CHUNKS (task_id, assignment_id, attempt, seq, stream, ts, data, marker)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    let inserted = 0;
    let insertedBytes = 0;
    // One transaction per batch: one fsync instead of one per chunk. The
    // driver is synchronous, so nothing else on this connection runs between
    // BEGIN and COMMIT; IMMEDIATE takes the write lock up front so another
    // process cannot make this transaction fail half-way with SQLITE_BUSY.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const c of chunks) {
        const res = insert.run(
          c.taskId,
          c.assignmentId,
          c.attempt,
          c.seq,
          c.stream,
          c.ts.getTime(),
          c.data,
          c.marker ? 1 : 0,
        );
        // changes is 0 when OR IGNORE skipped an already stored chunk.
        if (Number(res.changes) === 1) {
          inserted++;
          insertedBytes += c.data.byteLength;
        }
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    return { inserted, insertedBytes };
  }

  async readLogChunks(taskId: string, query: LogQuery): Promise<LogChunkRecord[]> {
    checkLimit(query.limit, 'readLogChunks limit');
    const after = positionBound(query.afterPosition ?? 0, 'afterPosition');
    const { where, params } = logWhere(taskId, query);
    where.push('(attempt, seq) > (?, ?)');
    params.push(after.attempt, after.seq);
    params.push(query.limit);
    return this.stmt(
      `SELECT * FROM LOG_CHUNKS WHERE ${where.join(' AND ')} ORDER BY attempt, seq, assignment_id LIMIT ?`,
    )
      .all(...params)
      .map(rowToLogChunk);
  }

  async readLogChunksBackward(taskId: string, query: LogQuery): Promise<LogChunkRecord[]> {
    checkLimit(query.limit, 'readLogChunksBackward limit');
    const { where, params } = logWhere(taskId, query);
    if (query.beforePosition !== undefined) {
      const before = positionBound(query.beforePosition, 'beforePosition');
      where.push('(attempt, seq) < (?, ?)');
      params.push(before.attempt, before.seq);
    }
    params.push(query.limit);
    return this.stmt(
      `SELECT * FROM LOG_CHUNKS WHERE ${where.join(' AND ')}
       ORDER BY attempt DESC, seq DESC, assignment_id DESC LIMIT ?`,
    )
      .all(...params)
      .map(rowToLogChunk);
  }

  async deleteLogChunks(taskId: string): Promise<number> {
    return Number(this.stmt('DELETE FROM LOG_CHUNKS WHERE task_id = ?').run(taskId).changes);
  }

  async addLogBytes(taskId: string, storedBytes: number, droppedBytes: number): Promise<TaskRecord | null> {
    checkByteCount(storedBytes, 'storedBytes');
    checkByteCount(droppedBytes, 'droppedBytes');
    const row = this.stmt(
      `UPDATE TASKS SET log_bytes = log_bytes + ?, log_dropped_bytes = log_dropped_bytes + ?, updated_at = ?
       WHERE task_id = ? RETURNING *`,
    ).get(storedBytes, droppedBytes, Date.now(), taskId);
    return row ? rowToTask(row) : null;
  }

  // --- FILE_METADATA

  async replaceFileMetadata(taskId: string, files: readonly FileMetadataRecord[]): Promise<void> {
    checkFilesOfTask(taskId, files);
    const insert = this.stmt(
      `INSERT INTO FILE_METADATA (
         task_id, task_name, user_id, submitted_at, assignment_id, file_name, file_path, task_dir,
         file_size, sha256, stored_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // One transaction: readers (and other processes) see the old set or the
    // new one, never a mix or an empty list.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.stmt('DELETE FROM FILE_METADATA WHERE task_id = ?').run(taskId);
      for (const f of files) {
        insert.run(
          f.taskId,
          f.taskName,
          f.userId,
          f.submittedAt.getTime(),
          f.assignmentId,
          f.fileName,
          f.filePath,
          f.taskDir,
          f.fileSize,
          f.sha256,
          f.storedAt.getTime(),
        );
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  async listFileMetadata(taskId: string): Promise<FileMetadataRecord[]> {
    return this.stmt('SELECT * FROM FILE_METADATA WHERE task_id = ? ORDER BY file_path')
      .all(taskId)
      .map(rowToFileMetadata);
  }

  async deleteFileMetadata(taskId: string): Promise<number> {
    return Number(this.stmt('DELETE FROM FILE_METADATA WHERE task_id = ?').run(taskId).changes);
  }

  async listTasksWithFilesStoredBefore(before: Date, limit: number): Promise<string[]> {
    checkLimit(limit, 'listTasksWithFilesStoredBefore limit');
    return this.stmt(
      `SELECT task_id, MIN(stored_at) AS first_stored_at FROM FILE_METADATA
       WHERE stored_at < ? GROUP BY task_id ORDER BY first_stored_at, task_id LIMIT ?`,
    )
      .all(before.getTime(), limit)
      .map((r) => r.task_id as string);
  }

  async clear(): Promise<void> {
    this.db.exec(
      `DELETE FROM TASKS; DELETE FROM WORKERS; DELETE FROM ASSIGNMENTS; DELETE FROM RESULTS;
       DELETE FROM LOG_CHUNKS; DELETE FROM FILE_METADATA;`,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    this.db.close();
  }
}

// --- row mapping

function encodeDate(d: Date | null): number | null {
  return d === null ? null : d.getTime();
}

function decodeDate(v: unknown): Date | null {
  return v === null || v === undefined ? null : new Date(v as number);
}

function required<T>(row: T | undefined, what: string): T {
  if (row === undefined) throw new Error(`${what}: statement returned no row`);
  return row;
}

function taskToRow(t: TaskRecord): Row {
  return {
    task_id: t.taskId,
    task_name: t.taskName,
    user_id: t.userId,
    image: t.image,
    command: JSON.stringify(t.command),
    env: JSON.stringify(t.env),
    cpu: t.resources.cpu,
    memory_gb: t.resources.memoryGb,
    storage_gb: t.resources.storageGb,
    gpu: t.resources.gpu,
    timeout_seconds: t.timeoutSeconds,
    network: t.network ? 1 : 0,
    status: t.status,
    reason: t.reason,
    attempt: t.attempt,
    assignment_id: t.assignmentId,
    worker_id: t.workerId,
    pinned_worker_id: t.pinnedWorkerId,
    exit_code: t.exitCode,
    submitted_at: t.submittedAt.getTime(),
    scheduled_at: encodeDate(t.scheduledAt),
    started_at: encodeDate(t.startedAt),
    finished_at: encodeDate(t.finishedAt),
    output_files: JSON.stringify(t.outputFiles),
    output_bytes: t.outputBytes,
    log_bytes: t.logBytes,
    log_dropped_bytes: t.logDroppedBytes,
    logs_purged_at: encodeDate(t.logsPurgedAt),
    idempotency_key: t.idempotencyKey,
    updated_at: t.updatedAt.getTime(),
  };
}

function rowToTask(r: Record<string, unknown>): TaskRecord {
  return {
    taskId: r.task_id as string,
    taskName: r.task_name as string,
    userId: r.user_id as string,
    image: r.image as string,
    command: JSON.parse(r.command as string) as string[],
    env: JSON.parse(r.env as string) as Record<string, string>,
    resources: {
      cpu: r.cpu as number,
      memoryGb: r.memory_gb as number,
      storageGb: r.storage_gb as number,
      gpu: r.gpu as number,
    },
    timeoutSeconds: r.timeout_seconds as number,
    network: r.network === 1,
    status: r.status as TaskStatus,
    reason: r.reason as string,
    attempt: r.attempt as number,
    assignmentId: (r.assignment_id as string | null) ?? null,
    workerId: (r.worker_id as string | null) ?? null,
    pinnedWorkerId: (r.pinned_worker_id as string | null) ?? null,
    exitCode: (r.exit_code as number | null) ?? null,
    submittedAt: new Date(r.submitted_at as number),
    scheduledAt: decodeDate(r.scheduled_at),
    startedAt: decodeDate(r.started_at),
    finishedAt: decodeDate(r.finished_at),
    outputFiles: JSON.parse(r.output_files as string) as OutputFileRecord[],
    outputBytes: r.output_bytes as number,
    logBytes: r.log_bytes as number,
    logDroppedBytes: r.log_dropped_bytes as number,
    logsPurgedAt: decodeDate(r.logs_purged_at),
    idempotencyKey: r.idempotency_key as string,
    updatedAt: new Date(r.updated_at as number),
  };
}

function unitColumns(prefix: 'capacity' | 'free', u: ResourceUnits): Row {
  return {
    [`${prefix}_cpu_millis`]: u.cpuMillis,
    [`${prefix}_memory_mb`]: u.memoryMb,
    [`${prefix}_storage_mb`]: u.storageMb,
    [`${prefix}_gpu`]: u.gpu,
  };
}

function unitParams(u: ResourceUnits): Row {
  return { cpu_millis: u.cpuMillis, memory_mb: u.memoryMb, storage_mb: u.storageMb, gpu: u.gpu };
}

function usageColumns(u: Usage): Row {
  return {
    usage_cpu_percent: u.cpuPercent,
    usage_memory_used_gb: u.memoryUsedGb,
    usage_load_average_1m: u.loadAverage1m,
    usage_running_containers: u.runningContainers,
  };
}

function rowToWorker(r: Record<string, unknown>): WorkerRecord {
  return {
    workerId: r.worker_id as string,
    address: r.address as string,
    state: r.state as WorkerState,
    capacity: {
      cpuMillis: r.capacity_cpu_millis as number,
      memoryMb: r.capacity_memory_mb as number,
      storageMb: r.capacity_storage_mb as number,
      gpu: r.capacity_gpu as number,
    },
    free: {
      cpuMillis: r.free_cpu_millis as number,
      memoryMb: r.free_memory_mb as number,
      storageMb: r.free_storage_mb as number,
      gpu: r.free_gpu as number,
    },
    usage: {
      cpuPercent: r.usage_cpu_percent as number,
      memoryUsedGb: r.usage_memory_used_gb as number,
      loadAverage1m: r.usage_load_average_1m as number,
      runningContainers: r.usage_running_containers as number,
    },
    version: r.version as string,
    lastHeartbeat: new Date(r.last_heartbeat as number),
    registeredAt: new Date(r.registered_at as number),
  };
}

function rowToAssignment(r: Record<string, unknown>): AssignmentRecord {
  return {
    assignmentId: r.assignment_id as string,
    taskId: r.task_id as string,
    workerId: r.worker_id as string,
    attempt: r.attempt as number,
    createdAt: new Date(r.created_at as number),
    outcome: (r.outcome as string | null) ?? null,
  };
}

/** The filters readLogChunks and readLogChunksBackward share. */
function logWhere(taskId: string, query: LogQuery): { where: string[]; params: SQLInputValue[] } {
  const where = ['task_id = ?'];
  const params: SQLInputValue[] = [taskId];
  if (query.streams !== undefined) {
    where.push('stream IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(query.streams));
  }
  if (query.since !== undefined) {
    where.push('ts >= ?');
    params.push(query.since.getTime());
  }
  return { where, params };
}

function rowToLogChunk(r: Record<string, unknown>): LogChunkRecord {
  return {
    taskId: r.task_id as string,
    assignmentId: r.assignment_id as string,
    attempt: r.attempt as number,
    seq: r.seq as number,
    stream: r.stream as LogStreamName,
    ts: new Date(r.ts as number),
    data: r.data as Uint8Array,
    marker: r.marker === 1,
  };
}

function rowToFileMetadata(r: Record<string, unknown>): FileMetadataRecord {
  return {
    taskId: r.task_id as string,
    taskName: r.task_name as string,
    userId: r.user_id as string,
    submittedAt: new Date(r.submitted_at as number),
    assignmentId: r.assignment_id as string,
    fileName: r.file_name as string,
    filePath: r.file_path as string,
    taskDir: r.task_dir as string,
    fileSize: r.file_size as number,
    sha256: r.sha256 as string,
    storedAt: new Date(r.stored_at as number),
  };
}

function rowToResult(r: Record<string, unknown>): ResultRecord {
  return {
    taskId: r.task_id as string,
    workerId: r.worker_id as string,
    status: r.status as TaskStatus,
    exitCode: (r.exit_code as number | null) ?? null,
    completedAt: new Date(r.completed_at as number),
    logBytes: r.log_bytes as number,
  };
}
