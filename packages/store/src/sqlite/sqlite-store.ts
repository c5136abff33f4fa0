import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { ResourceUnits, TaskStatus, WorkerState } from '@cloudai/domain';
import { checkedPatch } from '../fields/field.js';
import { WalCheckpointer, WRITER_AUTOCHECKPOINT_PAGES } from './wal-checkpointer.js';
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
import { insertSql, rowMapping, setClause, upsertSql } from './rows.js';
import { migrate } from './schema.js';
import {
  ASSIGNMENT_ROWS,
  EVENT_ROWS,
  FILE_METADATA_ROWS,
  LOG_CHUNK_ROWS,
  RESULT_ROWS,
  TASK_ROWS,
  TOKEN_ROWS,
  USER_ROWS,
  WORKER_ROWS,
} from './tables.js';

/** The column of a sort key other than submission time (which every order ends with). */
const SORT_COLUMNS: Record<TaskSortKey, string | undefined> = { submittedAt: undefined, taskName: 'task_name', status: 'status' };

/** How long a write waits for another process's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 10_000;

/**
 * Opens (creating and migrating if needed) the SQLite store at `path`;
 * `':memory:'` gives a private in-memory database. `onCheckpointError`
 * hears of a background WAL checkpoint that failed (the writer's own
 * checkpoint still bounds the WAL, so nothing is lost, but the WAL grows).
 */
export async function openSqliteStore(path: string, onCheckpointError?: (message: string) => void): Promise<Store> {
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
  if (path === ':memory:') return new SqliteStore(db, undefined);
  // Checkpoints leave the writer's commits for a thread of their own (see wal-checkpointer.ts).
  db.exec(`PRAGMA wal_autocheckpoint = ${WRITER_AUTOCHECKPOINT_PAGES}`);
  return new SqliteStore(db, new WalCheckpointer(path, BUSY_TIMEOUT_MS, onCheckpointError));
}

/** Units alone, as named parameters cpu_millis, memory_mb, … for the reservation statements. */
const UNIT_PARAMS = rowMapping(UNIT_FIELDS);

const rowToTask = (row: Stored) => TASK_ROWS.decode(row);
const rowToWorker = (row: Stored) => WORKER_ROWS.decode(row);
const rowToLogChunk = (row: Stored) => LOG_CHUNK_ROWS.decode(row);
const rowToEvent = (row: Stored) => EVENT_ROWS.decode(row);

/** Inserts an event without its seq, which SQLite assigns (AUTOINCREMENT), and returns the seq. */
const INSERT_EVENT = `${insertSql('EVENTS', { ...EVENT_ROWS, columns: EVENT_ROWS.columns.filter((c) => c.name !== 'seq') })} RETURNING seq`;

class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly statements = new Map<string, StatementSync>();
  private closed = false;

  constructor(
    private readonly db: DatabaseSync,
    private readonly checkpointer: WalCheckpointer | undefined,
  ) {}

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
      `${insertSql('TASKS', TASK_ROWS)} ON CONFLICT (idempotency_key) DO NOTHING RETURNING *`,
    ).get(TASK_ROWS.encode(task));
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
    const order = filter.order ?? NEWEST_FIRST;
    const sorted = SORT_COLUMNS[order.key];
    const columns = sorted ? [sorted, 'submitted_at', 'task_id'] : ['submitted_at', 'task_id'];
    if (filter.after !== undefined) {
      const { after } = filter;
      // A row value: compared column by column, as the index is ordered.
      where.push(`(${columns.join(', ')}) ${order.ascending ? '>' : '<'} (${columns.map(() => '?').join(', ')})`);
      if (sorted) params.push(order.key === 'taskName' ? after.taskName : after.status);
      params.push(after.submittedAt.getTime(), after.taskId);
    }
    params.push(filter.limit);
    const direction = order.ascending ? 'ASC' : 'DESC';
    const sql =
      `SELECT * FROM TASKS${where.length ? ` WHERE ${where.join(' AND ')}` : ''}` +
      ` ORDER BY ${columns.map((c) => `${c} ${direction}`).join(', ')} LIMIT ?`;
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
    const columns = TASK_ROWS.encodeSome(checkedPatch(TASK_FIELDS, patch, 'updateTask'));
    for (const [column, value] of Object.entries(columns)) {
      set.push(`${column} = ?`);
      params.push(value);
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
    const registered: WorkerRecord = { ...worker, state: 'ALIVE', lastHeartbeat: now, registeredAt: now };
    const row = this.stmt(upsertSql('WORKERS', WORKER_ROWS, 'worker_id')).get(WORKER_ROWS.encode(registered));
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
    const set = WORKER_ROWS.encodeSome({ lastHeartbeat: now, usage });
    const row = this.stmt(
      `UPDATE WORKERS SET ${setClause(set)}
       WHERE worker_id = :worker_id AND state IN (SELECT value FROM json_each(:states))
       RETURNING *`,
    ).get({ ...set, worker_id: workerId, states: JSON.stringify(states) });
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
    ).run({ worker_id: workerId, ...UNIT_PARAMS.encode(units) });
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
    ).run({ worker_id: workerId, ...UNIT_PARAMS.encode(units) });
  }

  // --- ASSIGNMENTS

  async createAssignment(a: AssignmentRecord): Promise<void> {
    this.stmt(insertSql('ASSIGNMENTS', ASSIGNMENT_ROWS)).run(ASSIGNMENT_ROWS.encode(a));
  }

  async getAssignment(assignmentId: string): Promise<AssignmentRecord | null> {
    const row = this.stmt('SELECT * FROM ASSIGNMENTS WHERE assignment_id = ?').get(assignmentId);
    return row ? ASSIGNMENT_ROWS.decode(row) : null;
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
    this.stmt(upsertSql('RESULTS', RESULT_ROWS, 'task_id')).get(RESULT_ROWS.encode(r));
  }

  async getResult(taskId: string): Promise<ResultRecord | null> {
    const row = this.stmt('SELECT * FROM RESULTS WHERE task_id = ?').get(taskId);
    return row ? RESULT_ROWS.decode(row) : null;
  }

  // --- LOG_CHUNKS

  async appendLogChunks(chunks: readonly LogChunkRecord[]): Promise<{ inserted: number; insertedBytes: number }> {
    for (const c of chunks) checkLogChunk(c);
    if (chunks.length === 0) return { inserted: 0, insertedBytes: 0 };
    const insert = this.stmt(insertSql('LOG_CHUNKS', LOG_CHUNK_ROWS, 'INSERT OR IGNORE'));
    let inserted = 0;
    let insertedBytes = 0;
    // One transaction per batch: one fsync instead of one per chunk. The
    // driver is synchronous, so nothing else on this connection runs between
    // BEGIN and COMMIT; IMMEDIATE takes the write lock up front so another
    // process cannot make this transaction fail half-way with SQLITE_BUSY.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const c of chunks) {
        const res = insert.run(LOG_CHUNK_ROWS.encode(c));
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

  async lastLogSeq(taskId: string): Promise<{ attempt: number; seq: number } | null> {
    const row = this.stmt('SELECT attempt, seq FROM LOG_CHUNKS WHERE task_id = ? ORDER BY attempt DESC, seq DESC LIMIT 1').get(taskId);
    return row ? { attempt: Number(row.attempt), seq: Number(row.seq) } : null;
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
    const insert = this.stmt(insertSql('FILE_METADATA', FILE_METADATA_ROWS));
    // One transaction: readers (and other processes) see the old set or the
    // new one, never a mix or an empty list.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.stmt('DELETE FROM FILE_METADATA WHERE task_id = ?').run(taskId);
      for (const f of files) insert.run(FILE_METADATA_ROWS.encode(f));
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  async listFileMetadata(taskId: string): Promise<FileMetadataRecord[]> {
    return this.stmt('SELECT * FROM FILE_METADATA WHERE task_id = ? ORDER BY file_path')
      .all(taskId)
      .map((row) => FILE_METADATA_ROWS.decode(row));
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

  // --- EVENTS

  async appendEvents(events: readonly NewEventRecord[]): Promise<EventRecord[]> {
    for (const e of events) checkNewEvent(e);
    if (events.length === 0) return [];
    const insert = this.stmt(INSERT_EVENT);
    const stored: EventRecord[] = [];
    // One transaction per batch, like appendLogChunks: one fsync, and the
    // batch's seqs are consecutive.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const e of events) {
        const row = EVENT_ROWS.encode({ ...e, seq: 0 });
        delete row.seq;
        const inserted = required(insert.get(row), 'appendEvents');
        stored.push({ ...e, seq: Number(inserted.seq) });
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    return stored;
  }

  async listEvents(query: EventQuery): Promise<EventRecord[]> {
    checkEventQuery(query);
    const where = ['seq > ?'];
    const params: SQLInputValue[] = [query.afterSeq ?? 0];
    if (query.throughSeq !== undefined) {
      where.push('seq <= ?');
      params.push(query.throughSeq);
    }
    if (query.taskId !== undefined) {
      where.push('task_id = ?');
      params.push(query.taskId);
    }
    if (query.workerId !== undefined) {
      where.push('worker_id = ?');
      params.push(query.workerId);
    }
    if (query.taskOwner !== undefined) {
      where.push('user_id = ? AND task_id IS NOT NULL');
      params.push(query.taskOwner);
    }
    if (query.since !== undefined) {
      where.push('time >= ?');
      params.push(query.since.getTime());
    }
    params.push(query.limit);
    const rows = this.stmt(
      `SELECT * FROM EVENTS WHERE ${where.join(' AND ')} ORDER BY seq ${query.latest ? 'DESC' : 'ASC'} LIMIT ?`,
    ).all(...params);
    const events = rows.map(rowToEvent);
    return query.latest ? events.reverse() : events;
  }

  async lastEventSeq(): Promise<number> {
    return Number(this.stmt('SELECT MAX(seq) AS seq FROM EVENTS').get()?.seq ?? 0);
  }

  async deleteEventsBefore(before: Date): Promise<number> {
    return Number(this.stmt('DELETE FROM EVENTS WHERE time < ?').run(before.getTime()).changes);
  }

  // --- USERS and TOKENS

  async createUser(user: UserRecord): Promise<{ user: UserRecord; created: boolean }> {
    const inserted = this.stmt(`${insertSql('USERS', USER_ROWS)} ON CONFLICT (user_name) DO NOTHING RETURNING *`).get(
      USER_ROWS.encode(user),
    );
    if (inserted) return { user: USER_ROWS.decode(inserted), created: true };
    const existing = await this.getUser(user.userName);
    if (!existing) throw new Error(`createUser: insert of ${user.userName} conflicted but no user holds the name`);
    return { user: existing, created: false };
  }

  async getUser(userName: string): Promise<UserRecord | null> {
    const row = this.stmt('SELECT * FROM USERS WHERE user_name = ?').get(userName);
    return row ? USER_ROWS.decode(row) : null;
  }

  async listUsers(): Promise<UserRecord[]> {
    return this.stmt('SELECT * FROM USERS ORDER BY user_name')
      .all()
      .map((row) => USER_ROWS.decode(row));
  }

  async countUsers(): Promise<number> {
    return Number(this.stmt('SELECT COUNT(*) AS n FROM USERS').get()?.n ?? 0);
  }

  async setUserDisabled(userName: string, disabled: boolean): Promise<UserRecord | null> {
    const row = this.stmt('UPDATE USERS SET disabled = ? WHERE user_name = ? RETURNING *').get(disabled ? 1 : 0, userName);
    return row ? USER_ROWS.decode(row) : null;
  }

  async createToken(token: TokenRecord): Promise<void> {
    this.stmt(insertSql('TOKENS', TOKEN_ROWS)).run(TOKEN_ROWS.encode(token));
  }

  async getToken(tokenId: string): Promise<TokenRecord | null> {
    const row = this.stmt('SELECT * FROM TOKENS WHERE token_id = ?').get(tokenId);
    return row ? TOKEN_ROWS.decode(row) : null;
  }

  async listTokens(userName?: string): Promise<TokenRecord[]> {
    const rows =
      userName === undefined
        ? this.stmt('SELECT * FROM TOKENS ORDER BY created_at, token_id').all()
        : this.stmt('SELECT * FROM TOKENS WHERE user_name = ? ORDER BY created_at, token_id').all(userName);
    return rows.map((row) => TOKEN_ROWS.decode(row));
  }

  async revokeToken(tokenId: string, at: Date): Promise<TokenRecord | null> {
    this.stmt('UPDATE TOKENS SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL').run(at.getTime(), tokenId);
    return this.getToken(tokenId);
  }

  async touchToken(tokenId: string, at: Date): Promise<void> {
    this.stmt('UPDATE TOKENS SET last_used_at = ? WHERE token_id = ?').run(at.getTime(), tokenId);
  }

  async clear(): Promise<void> {
    this.db.exec(
      `DELETE FROM TASKS; DELETE FROM WORKERS; DELETE FROM ASSIGNMENTS; DELETE FROM RESULTS;
       DELETE FROM LOG_CHUNKS; DELETE FROM FILE_METADATA; DELETE FROM USERS; DELETE FROM TOKENS;
       DELETE FROM EVENTS;`,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    await this.checkpointer?.stop();
    this.db.close();
  }
}

function required<T>(row: T | undefined, what: string): T {
  if (row === undefined) throw new Error(`${what}: statement returned no row`);
  return row;
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
