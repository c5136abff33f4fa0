import { Worker } from 'node:worker_threads';

/**
 * Checkpoints the WAL from a thread of its own. SQLite's automatic
 * checkpoint runs inside the commit that crosses wal_autocheckpoint (1000
 * pages): it copies the WAL into the database and fsyncs it, on the
 * event loop, every 4 MiB written. Under a log burst that was most of the
 * master's time storing chunks (46 MiB/s of 1 MiB batches with it, 280
 * MiB/s without, measured alone on the same disk). Here a second connection
 * runs PASSIVE checkpoints, which never block the writer, every
 * CHECKPOINT_EVERY_MS. Durability is unchanged: with synchronous = NORMAL a
 * commit is in the WAL when it returns, whoever checkpoints it later.
 */
const CHECKPOINT_EVERY_MS = 1_000;
/**
 * The writer's own automatic checkpoint stays as a bound, should this
 * thread fall behind or fail: 64 MiB of WAL at the default 4 KiB pages.
 */
export const WRITER_AUTOCHECKPOINT_PAGES = 16_384;

// CommonJS, as Worker runs `eval` code.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path, { timeout: workerData.busyTimeoutMs });
db.exec('PRAGMA wal_autocheckpoint = 0');
const checkpoint = () => {
  try {
    db.exec('PRAGMA wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage(String(err && err.message || err));
  }
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/** The same checkpoint error is reported again after this long, not at every failure. */
const REPEAT_REPORT_MS = 60_000;

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  /** `onError` hears of a checkpoint that failed (the writer's own checkpoint still bounds the WAL). */
  constructor(path: string, busyTimeoutMs: number, onError: (message: string) => void = () => {}) {
    this.worker = new Worker(THREAD, { eval: true, workerData: { path, busyTimeoutMs, everyMs: CHECKPOINT_EVERY_MS } });
    // A checkpoint that keeps failing (a full disk) fails every second:
    // reported when its error changes, and at most once a minute otherwise.
    let last: { message: string; at: number } | undefined;
    const report = (message: string) => {
      const now = performance.now();
      if (last && last.message === message && now - last.at < REPEAT_REPORT_MS) return;
      last = { message, at: now };
      onError(message);
    };
    this.worker.on('message', (m: unknown) => report(String(m)));
    this.worker.on('error', (err) => report(err.message));
    // Not what keeps a process alive: the store's owner closes it.
    this.worker.unref();
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
  }

  /** Stops checkpointing and closes the thread's connection (before the writer's, whose close checkpoints the rest). */
  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    await this.exited;
  }
}
