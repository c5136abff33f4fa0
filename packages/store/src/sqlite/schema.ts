import type { DatabaseSync } from 'node:sqlite';

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many
 * have run. Append new steps at the end and never edit a released one:
 * existing databases have already run it.
 * Exported so tests can build a database as an older release left it.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE TASKS (
    task_id          TEXT    PRIMARY KEY,
    task_name        TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    image            TEXT    NOT NULL,
    command          TEXT    NOT NULL,
    env              TEXT    NOT NULL,
    cpu              REAL    NOT NULL,
    memory_gb        REAL    NOT NULL,
    storage_gb       REAL    NOT NULL,
    gpu              INTEGER NOT NULL,
    timeout_seconds  INTEGER NOT NULL,
    network          INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    reason           TEXT    NOT NULL,
    attempt          INTEGER NOT NULL,
    assignment_id    TEXT,
    worker_id        TEXT,
    pinned_worker_id TEXT,
    exit_code        INTEGER,
    submitted_at     INTEGER NOT NULL,
    scheduled_at     INTEGER,
    started_at       INTEGER,
    finished_at      INTEGER,
    output_files     TEXT    NOT NULL,
    output_bytes     INTEGER NOT NULL,
    log_bytes        INTEGER NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    updated_at       INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX TASKS_idempotency_key ON TASKS (idempotency_key);
  CREATE INDEX TASKS_user_id ON TASKS (user_id);
  CREATE INDEX TASKS_task_name ON TASKS (task_name);
  CREATE INDEX TASKS_submitted_at ON TASKS (submitted_at);
  CREATE INDEX TASKS_status_submitted_at ON TASKS (status, submitted_at);
  CREATE INDEX TASKS_worker_id ON TASKS (worker_id);

  CREATE TABLE WORKERS (
    worker_id                TEXT    PRIMARY KEY,
    address                  TEXT    NOT NULL,
    state                    TEXT    NOT NULL,
    version                  TEXT    NOT NULL,
    capacity_cpu_millis      INTEGER NOT NULL,
    capacity_memory_mb       INTEGER NOT NULL,
    capacity_storage_mb      INTEGER NOT NULL,
    capacity_gpu             INTEGER NOT NULL,
    free_cpu_millis          INTEGER NOT NULL CHECK (free_cpu_millis >= 0),
    free_memory_mb           INTEGER NOT NULL CHECK (free_memory_mb >= 0),
    free_storage_mb          INTEGER NOT NULL CHECK (free_storage_mb >= 0),
    free_gpu                 INTEGER NOT NULL CHECK (free_gpu >= 0),
    usage_cpu_percent        REAL    NOT NULL,
    usage_memory_used_gb     REAL    NOT NULL,
    usage_load_average_1m    REAL    NOT NULL,
    usage_running_containers INTEGER NOT NULL,
    last_heartbeat           INTEGER NOT NULL,
    registered_at            INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX WORKERS_state_last_heartbeat ON WORKERS (state, last_heartbeat);

  CREATE TABLE ASSIGNMENTS (
    assignment_id TEXT    PRIMARY KEY,
    task_id       TEXT    NOT NULL,
    worker_id     TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    outcome       TEXT
  ) STRICT;
  CREATE INDEX ASSIGNMENTS_task_id ON ASSIGNMENTS (task_id);
  CREATE INDEX ASSIGNMENTS_worker_id ON ASSIGNMENTS (worker_id);

  CREATE TABLE RESULTS (
    task_id      TEXT    PRIMARY KEY,
    worker_id    TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    exit_code    INTEGER,
    completed_at INTEGER NOT NULL,
    log_bytes    INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX RESULTS_completed_at ON RESULTS (completed_at);
  `,
  // v2: logs (issue 3) and output file metadata (issue 4).
  `
  ALTER TABLE TASKS ADD COLUMN log_dropped_bytes INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE TASKS ADD COLUMN logs_purged_at INTEGER;
  -- retention sweeps look for tasks that finished before a cutoff
  CREATE INDEX TASKS_finished_at ON TASKS (finished_at);

  -- The key makes a resent batch a no-op (INSERT OR IGNORE); reads go by
  -- (task_id, attempt, seq), the order logPosition() encodes.
  CREATE TABLE LOG_CHUNKS (
    task_id       TEXT    NOT NULL,
    assignment_id TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    stream        TEXT    NOT NULL CHECK (stream IN ('stdout', 'stderr')),
    ts            INTEGER NOT NULL,
    data          BLOB    NOT NULL,
    marker        INTEGER NOT NULL,
    PRIMARY KEY (task_id, assignment_id, seq)
  ) STRICT;
  CREATE INDEX LOG_CHUNKS_task_id_attempt_seq ON LOG_CHUNKS (task_id, attempt, seq);

  CREATE TABLE FILE_METADATA (
    task_id       TEXT    NOT NULL,
    task_name     TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    submitted_at  INTEGER NOT NULL,
    assignment_id TEXT    NOT NULL,
    file_name     TEXT    NOT NULL,
    file_path     TEXT    NOT NULL,
    task_dir      TEXT    NOT NULL,
    file_size     INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    stored_at     INTEGER NOT NULL,
    PRIMARY KEY (task_id, file_path)
  ) STRICT;
  CREATE INDEX FILE_METADATA_user_id ON FILE_METADATA (user_id);
  CREATE INDEX FILE_METADATA_task_name ON FILE_METADATA (task_name);
  CREATE INDEX FILE_METADATA_submitted_at ON FILE_METADATA (submitted_at);
  CREATE INDEX FILE_METADATA_stored_at ON FILE_METADATA (stored_at);
  `,
  // v3: users and API tokens (issue 10).
  `
  CREATE TABLE USERS (
    user_name  TEXT    PRIMARY KEY,
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
    disabled   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE TOKENS (
    token_id      TEXT    PRIMARY KEY,
    user_name     TEXT    NOT NULL,
    secret_sha256 TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    last_used_at  INTEGER,
    revoked_at    INTEGER
  ) STRICT;
  CREATE INDEX TOKENS_user_name ON TOKENS (user_name);
  `,
  // v4: when a task last entered QUEUED and when it began uploading, for the phase metrics (issue 11).
  `
  ALTER TABLE TASKS ADD COLUMN queued_at INTEGER;
  ALTER TABLE TASKS ADD COLUMN uploading_at INTEGER;
  `,
  // v5: events (issue 11). AUTOINCREMENT: a seq is never handed out twice,
  // even after retention deleted the newest events, so a follower's cursor
  // stays valid across restarts and sweeps.
  `
  CREATE TABLE EVENTS (
    seq       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    time      INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    task_id   TEXT,
    worker_id TEXT,
    user_id   TEXT,
    actor     TEXT,
    attempt   INTEGER NOT NULL,
    message   TEXT    NOT NULL,
    reason    TEXT    NOT NULL
  ) STRICT;
  CREATE INDEX EVENTS_task_id_seq ON EVENTS (task_id, seq);
  CREATE INDEX EVENTS_worker_id_seq ON EVENTS (worker_id, seq);
  CREATE INDEX EVENTS_user_id_seq ON EVENTS (user_id, seq);
  -- retention removes events older than a cutoff
  CREATE INDEX EVENTS_time ON EVENTS (time);
  `,
  // v6: a user's newest tasks, with or without a status filter, read from an
  // index rather than sorted from all of that user's rows (100,000 tasks:
  // 217 ms a page before, for the console's task table; issue 12).
  `
  CREATE INDEX TASKS_user_id_submitted_at ON TASKS (user_id, submitted_at, task_id);
  CREATE INDEX TASKS_user_id_status_submitted_at ON TASKS (user_id, status, submitted_at, task_id);
  `,
  // v7: the task table sorted by name (a user's, or everyone's for an
  // admin), and everyone's by status, read in index order a page at a time.
  `
  CREATE INDEX TASKS_user_id_task_name_submitted_at ON TASKS (user_id, task_name, submitted_at, task_id);
  CREATE INDEX TASKS_task_name_submitted_at ON TASKS (task_name, submitted_at, task_id);
  CREATE INDEX TASKS_status_submitted_at_task_id ON TASKS (status, submitted_at, task_id);
  `,
];

/** The schema version this code writes; a newer database is refused. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database up to SCHEMA_VERSION. Safe when several processes open the same file at once. */
export function migrate(db: DatabaseSync): void {
  // IMMEDIATE takes the write lock before user_version is read, so two
  // processes opening a fresh file cannot both run the same migration.
  db.exec('BEGIN IMMEDIATE');
  try {
    const current = userVersion(db);
    if (current > SCHEMA_VERSION) {
      throw new Error(`database schema version ${current} is newer than this build supports (${SCHEMA_VERSION})`);
    }
    for (let v = current; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v] as string);
    }
    // PRAGMA takes no bound parameters; SCHEMA_VERSION is a trusted integer.
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

export function userVersion(db: DatabaseSync): number {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number } | undefined;
  return row?.user_version ?? 0;
}
