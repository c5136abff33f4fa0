import type { Logger } from '@cloudai/logger';
import type { FileMetadataStore } from '@cloudai/store';
import type { TaskOutputs } from './outputs.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Tasks handled per store query, so one sweep never loads every id at once. */
const BATCH = 100;

export interface RetentionOptions {
  /** outputs stored longer ago than this are removed; 0 disables retention */
  days: number;
  sweepMs: number;
}

/**
 * Periodically removes task outputs (files and records) older than the
 * retention age, and has the backend sweep its leftovers (on s3: uploads
 * and deletes that a killed process or a failing object store left
 * unfinished).
 */
export class Retention {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly outputs: TaskOutputs,
    private readonly store: FileMetadataStore,
    private readonly options: RetentionOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    const tick = () => {
      // Never two sweeps at once: a slow one simply delays the next.
      if (this.running) return;
      const retention = this.options.days > 0 ? this.sweep() : Promise.resolve();
      const leftovers = this.outputs.backend.sweep().then((removed) => {
        if (removed > 0) this.log.info({ removed }, 'removed leftovers of unfinished uploads and deletes');
      });
      this.running = Promise.all([
        retention.catch((err: unknown) => this.log.error({ err }, 'retention sweep failed')),
        leftovers.catch((err: unknown) => this.log.error({ err }, 'leftover sweep failed')),
      ]).finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, this.options.sweepMs);
    this.timer.unref();
    tick();
  }

  /** Stops the timer and waits for a sweep in progress, so the store is not closed under it. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass: deletes every task whose files were stored before `now - days`. Returns the task ids removed. */
  async sweep(now = new Date()): Promise<string[]> {
    const before = new Date(now.getTime() - this.options.days * DAY_MS);
    const handled = new Set<string>();
    const removed: string[] = [];
    for (;;) {
      const ids = await this.store.listTasksWithFilesStoredBefore(before, BATCH);
      // Ids already handled in this pass are skipped, so a task whose
      // records could not be removed (or that was uploaded again meanwhile)
      // cannot loop the sweep forever.
      const fresh = ids.filter((id) => !handled.has(id));
      for (const taskId of fresh) {
        handled.add(taskId);
        const deleted = await this.outputs.delete(taskId, { storedBefore: before });
        if (deleted.files === 0) continue;
        removed.push(taskId);
        this.log.info({ taskId, files: deleted.files, bytes: deleted.bytes, before }, 'expired outputs removed');
      }
      if (ids.length < BATCH || fresh.length === 0) return removed;
    }
  }
}
