import { DatabaseSync } from 'node:sqlite';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newTaskId } from '@cloudai/domain';
import { tempDir, waitFor } from '@cloudai/testing';
import { describeStoreContract } from '../contract/index.js';
import { makeChunk, makeTask, makeWorker, units } from '../contract/fixtures.js';
import { openSqliteStore } from './sqlite-store.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import { TABLES } from './tables.js';

const dir = await tempDir('cloudai-store-sqlite-');
afterAll(() => dir.remove());

const contractDb = join(dir.path, 'contract.db');
describeStoreContract('sqlite', () => openSqliteStore(contractDb));

describe('SQLite store specifics', () => {
  it('checkpoints the WAL from its own thread, well before the writer would', async () => {
    const path = join(dir.path, `checkpoint-${newTaskId()}.db`);
    const store = await openSqliteStore(path);
    try {
      const taskId = newTaskId();
      const data = Buffer.alloc(256 * 1024, 0x61);
      // 8 MiB: past SQLite's default automatic checkpoint (4 MiB), far below the writer's bound (64 MiB).
      for (let seq = 0; seq < 32; seq++) await store.appendLogChunks([makeChunk(taskId, 'assignment-1', 1, seq, { data })]);
      // Only a checkpoint moves the chunks from the WAL into the database file.
      await waitFor(() => statSync(path).size > 8 * 1024 * 1024 || undefined, { what: 'the WAL checkpointed into the database', timeoutMs: 10_000 });
      expect((await store.readLogChunks(taskId, { limit: 100 })).length).toBe(32);
    } finally {
      await store.close();
    }
  });

  it('creates the schema in WAL mode with user_version and the documented indexes', async () => {
    const path = join(dir.path, 'schema.db');
    const store = await openSqliteStore(path);
    await store.close();

    const db = new DatabaseSync(path, { readOnly: true });
    try {
      expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
      expect(db.prepare('PRAGMA user_version').get()).toEqual({ user_version: SCHEMA_VERSION });
      const tables = db
        .prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
        .all()
        .map((r) => r.name);
      expect(tables).toEqual([
        'ASSIGNMENTS',
        'EVENTS',
        'FILE_METADATA',
        'LOG_CHUNKS',
        'RESULTS',
        'TASKS',
        'TOKENS',
        'USERS',
        'WORKERS',
        'sqlite_sequence',
      ]);
      const indexed = (table: string) =>
        db
          .prepare(`SELECT name, "unique" FROM pragma_index_list(?)`)
          .all(table)
          .map((r) => ({
            unique: r.unique === 1,
            columns: db
              .prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno')
              .all(r.name as string)
              .map((c) => c.name),
          }));
      expect(indexed('TASKS')).toEqual(
        expect.arrayContaining([
          { unique: true, columns: ['task_id'] },
          { unique: true, columns: ['idempotency_key'] },
          { unique: false, columns: ['user_id'] },
          { unique: false, columns: ['task_name'] },
          { unique: false, columns: ['submitted_at'] },
          { unique: false, columns: ['status', 'submitted_at'] },
          { unique: false, columns: ['worker_id'] },
          { unique: false, columns: ['finished_at'] },
        ]),
      );
      expect(indexed('LOG_CHUNKS')).toEqual(
        expect.arrayContaining([
          { unique: true, columns: ['task_id', 'assignment_id', 'seq'] },
          { unique: false, columns: ['task_id', 'attempt', 'seq'] },
        ]),
      );
      expect(indexed('FILE_METADATA')).toEqual(
        expect.arrayContaining([
          { unique: true, columns: ['task_id', 'file_path'] },
          { unique: false, columns: ['user_id'] },
          { unique: false, columns: ['task_name'] },
          { unique: false, columns: ['submitted_at'] },
          { unique: false, columns: ['stored_at'] },
        ]),
      );
      expect(indexed('USERS')).toEqual(expect.arrayContaining([{ unique: true, columns: ['user_name'] }]));
      expect(indexed('TOKENS')).toEqual(
        expect.arrayContaining([
          { unique: true, columns: ['token_id'] },
          { unique: false, columns: ['user_name'] },
        ]),
      );
      expect(indexed('RESULTS')).toEqual(
        expect.arrayContaining([
          { unique: true, columns: ['task_id'] },
          { unique: false, columns: ['completed_at'] },
        ]),
      );
      expect(indexed('WORKERS')).toEqual(expect.arrayContaining([{ unique: true, columns: ['worker_id'] }]));
      expect(indexed('EVENTS')).toEqual(
        expect.arrayContaining([
          { unique: false, columns: ['task_id', 'seq'] },
          { unique: false, columns: ['worker_id', 'seq'] },
          { unique: false, columns: ['user_id', 'seq'] },
          { unique: false, columns: ['time'] },
        ]),
      );
    } finally {
      db.close();
    }
  });

  // The adapter's statements come from the field tables; a field added
  // without a migration (or with another type) fails here, not at run time.
  it('has exactly the columns the field tables declare, with their types and nullability', async () => {
    const path = join(dir.path, 'tables.db');
    await (await openSqliteStore(path)).close();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
      for (const [table, rows] of Object.entries(TABLES)) {
        const created = db
          .prepare('SELECT name, type, "notnull" FROM pragma_table_info(?)')
          .all(table)
          .map((c) => ({ name: c.name as string, type: c.type, nullable: c.notnull === 0 }))
          .sort(byName);
        expect({ table, columns: created }).toEqual({ table, columns: [...rows.columns].sort(byName) });
      }
    } finally {
      db.close();
    }
  });

  it('keeps data across reopen and does not re-run migrations', async () => {
    const path = join(dir.path, 'reopen.db');
    const first = await openSqliteStore(path);
    const taskId = newTaskId();
    const now = new Date('2024-01-01T00:00:00.000Z');
    await first.createTask(makeTask({ taskId, taskName: 't', submittedAt: now }));
    await first.close();

    const again = await openSqliteStore(path);
    expect((await again.getTask(taskId))?.taskName).toBe('t');
    await again.close();
  });

  it('migrates a version 1 database in place, keeping its tasks', async () => {
    const path = join(dir.path, 'v1.db');
    // The database exactly as the first release left it.
    const v1 = new DatabaseSync(path);
    v1.exec(MIGRATIONS[0] as string);
    v1.exec('PRAGMA user_version = 1');
    const taskId = newTaskId();
    v1.prepare(
      `INSERT INTO TASKS (task_id, task_name, user_id, image, command, env, cpu, memory_gb, storage_gb, gpu,
         timeout_seconds, network, status, reason, attempt, assignment_id, worker_id, pinned_worker_id, exit_code,
         submitted_at, scheduled_at, started_at, finished_at, output_files, output_bytes, log_bytes,
         idempotency_key, updated_at)
       VALUES (?, 'old', 'u', 'img:1', '["true"]', '{"A":"1"}', 1, 1, 1, 0, 60, 0, 'SUCCEEDED', 'exited 0', 1,
         'a1', 'w1', NULL, 0, 1704067200000, NULL, NULL, 1704067260000, '[]', 0, 12, ?, 1704067260000)`,
    ).run(taskId, taskId);
    v1.close();

    const store = await openSqliteStore(path);
    try {
      const task = await store.getTask(taskId);
      expect(task).toMatchObject({
        taskName: 'old',
        env: { A: '1' },
        status: 'SUCCEEDED',
        logBytes: 12,
        logDroppedBytes: 0,
        logsPurgedAt: null,
        queuedAt: null,
        uploadingAt: null,
        finishedAt: new Date(1704067260000),
      });
      // The new columns and tables work on the migrated file.
      expect((await store.addLogBytes(taskId, 3, 4))?.logDroppedBytes).toBe(4);
      const chunk = {
        taskId,
        assignmentId: 'a1',
        attempt: 1,
        seq: 0,
        stream: 'stdout' as const,
        ts: new Date(1704067201000),
        data: new Uint8Array([104, 105]),
        marker: false,
      };
      expect(await store.appendLogChunks([chunk])).toEqual({ inserted: 1, insertedBytes: 2 });
      expect(await store.listTasks({ logsPurged: false, limit: 10 })).toHaveLength(1);
    } finally {
      await store.close();
    }
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      expect(db.prepare('PRAGMA user_version').get()).toEqual({ user_version: SCHEMA_VERSION });
    } finally {
      db.close();
    }
  });

  it('refuses a database written by a newer schema version', async () => {
    const path = join(dir.path, 'newer.db');
    await (await openSqliteStore(path)).close();
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    await expect(openSqliteStore(path)).rejects.toThrow(/newer than this build supports/);
  });

  it('stores worker resources as integer unit columns and task resources as user units', async () => {
    const path = join(dir.path, 'columns.db');
    const store = await openSqliteStore(path);
    await store.registerWorker(
      makeWorker('w1', units(2500, 3072, 1024, 1), { address: '127.0.0.1:1', version: 'v' }),
      new Date(),
    );
    await store.close();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      expect(
        db.prepare('SELECT capacity_cpu_millis, free_memory_mb, typeof(free_gpu) AS t FROM WORKERS').get(),
      ).toEqual({ capacity_cpu_millis: 2500, free_memory_mb: 3072, t: 'integer' });
    } finally {
      db.close();
    }
  });

  it('works in memory', async () => {
    const store = await openSqliteStore(':memory:');
    expect(store.kind).toBe('sqlite');
    expect(await store.listWorkers()).toEqual([]);
    await store.close();
  });
});
