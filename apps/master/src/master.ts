import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@cloudai/logger';
import {
  ClusterServiceDefinition,
  SchedulerServiceDefinition,
  TaskServiceDefinition,
} from '@cloudai/proto';
import { startGrpcServer, type RunningGrpcServer } from '@cloudai/rpc';
import { openStore, type Store } from '@cloudai/store';
import { clusterService } from './cluster-service.js';
import type { Env } from './env.js';
import { ClusterEvents } from './events.js';
import { schedulerService } from './scheduler-service.js';
import { TaskManager } from './task-manager.js';
import { OutputFiles } from './output-files.js';
import { TaskLogs } from './task-logs.js';
import { taskService } from './task-service.js';
import { WorkerLink } from './worker-link.js';
import { WorkerRegistry } from './worker-registry.js';

export type MasterState = 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED';

/** The master process's components, wired once; `stop()` undoes `start()` in reverse. */
export class Master {
  private state: MasterState = 'STARTING';
  private store?: Store;
  private server?: RunningGrpcServer;
  private link?: WorkerLink;
  private files?: OutputFiles;
  private logs?: TaskLogs;
  private timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly env: Env,
    private readonly log: Logger,
  ) {}

  get address(): string {
    if (!this.server) throw new Error('master is not started');
    return this.server.address;
  }

  async start(): Promise<void> {
    const env = this.env;
    const sqlitePath = join(env.CLOUDAI_DATA_DIR, 'master', 'cloudai.db');
    if (!env.MONGODB_URI) await mkdir(join(env.CLOUDAI_DATA_DIR, 'master'), { recursive: true });
    this.store = await openStore({ mongodbUri: env.MONGODB_URI, sqlitePath });
    this.log.info({ store: this.store.kind, ...(env.MONGODB_URI ? {} : { sqlitePath }) }, 'store opened');

    const events = new ClusterEvents();
    this.link = new WorkerLink(this.log.child({ component: 'worker-link' }));
    this.files = new OutputFiles(env.CLOUDAI_STORAGE);
    const logs = new TaskLogs(this.store, this.log.child({ component: 'logs' }), {
      maxBytesPerTask: env.LOG_MAX_BYTES_PER_TASK,
    });
    this.logs = logs;
    const tasks = new TaskManager(this.store, events, this.link, this.log.child({ component: 'tasks' }), {
      maxAttempts: env.TASK_MAX_ATTEMPTS,
      onTaskChanged: (taskId) => logs.notify(taskId),
    });
    const workers = new WorkerRegistry(
      this.store,
      tasks,
      events,
      this.link,
      this.log.child({ component: 'workers' }),
      env.WORKER_TTL_MS,
    );

    this.server = await startGrpcServer({
      listenAddr: env.LISTEN_ADDR,
      logger: this.log.child({ component: 'grpc' }),
      register: (server) => {
        server.add(TaskServiceDefinition, taskService(tasks, workers, logs, this.files!));
        server.add(
          ClusterServiceDefinition,
          clusterService(tasks, workers, logs, { heartbeatIntervalMs: env.WORKER_HEARTBEAT_MS }),
        );
        server.add(SchedulerServiceDefinition, schedulerService(tasks, events));
      },
    });

    const livenessEvery = Math.max(100, Math.min(1_000, Math.floor(env.WORKER_TTL_MS / 4)));
    this.every(livenessEvery, 'liveness', () => workers.sweep(env.WORKER_TTL_MS));
    if (env.LOG_RETENTION_DAYS > 0) {
      const days = env.LOG_RETENTION_DAYS;
      this.every(env.RETENTION_SWEEP_MS, 'log-retention', () =>
        logs.purgeFinishedBefore(new Date(Date.now() - days * 86_400_000)),
      );
    }
    this.state = 'RUNNING';
    this.log.info({ address: this.server.address, storage: env.CLOUDAI_STORAGE }, 'master listening');
  }

  /** Runs `job` every `ms`, never two at once, logging failures. */
  private every(ms: number, component: string, job: () => Promise<unknown>): void {
    const log = this.log.child({ component });
    let busy = false;
    this.timers.push(
      setInterval(() => {
        if (busy) return;
        busy = true;
        const run = job()
          .catch((err: unknown) => log.error({ err }, `${component} sweep failed`))
          .finally(() => {
            busy = false;
            this.running.delete(run);
          });
        this.running.add(run);
      }, ms),
    );
  }

  async stop(): Promise<void> {
    if (this.state === 'STOPPING' || this.state === 'STOPPED') return;
    this.state = 'STOPPING';
    // No new liveness or retention decisions while shutting down.
    for (const t of this.timers) clearInterval(t);
    await Promise.all(this.running);
    // Followers' streams never end on their own; end them so the drain can finish.
    this.logs?.close();
    // Drain in-flight calls.
    await this.server?.shutdown(this.env.SHUTDOWN_GRACE_MS);
    // Outbound channels to workers and storage are no longer needed.
    this.link?.close();
    this.files?.close();
    // Last, so every handler above could still write.
    await this.store?.close();
    this.state = 'STOPPED';
  }
}
