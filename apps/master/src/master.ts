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
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<unknown>;

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
    const tasks = new TaskManager(this.store, events, this.link, this.log.child({ component: 'tasks' }), {
      maxAttempts: env.TASK_MAX_ATTEMPTS,
    });
    const workers = new WorkerRegistry(this.store, tasks, events, this.link, this.log.child({ component: 'workers' }));

    this.server = await startGrpcServer({
      listenAddr: env.LISTEN_ADDR,
      logger: this.log.child({ component: 'grpc' }),
      register: (server) => {
        server.add(TaskServiceDefinition, taskService(tasks, workers));
        server.add(ClusterServiceDefinition, clusterService(tasks, workers, { heartbeatIntervalMs: env.WORKER_HEARTBEAT_MS }));
        server.add(SchedulerServiceDefinition, schedulerService(tasks, events));
      },
    });

    const sweepLog = this.log.child({ component: 'liveness' });
    const sweepEvery = Math.max(100, Math.min(1_000, Math.floor(env.WORKER_TTL_MS / 4)));
    this.sweepTimer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = workers
        .sweep(env.WORKER_TTL_MS)
        .catch((err: unknown) => sweepLog.error({ err }, 'liveness sweep failed'))
        .finally(() => (this.sweeping = undefined));
    }, sweepEvery);
    this.state = 'RUNNING';
    this.log.info({ address: this.server.address, storage: env.CLOUDAI_STORAGE }, 'master listening');
  }

  async stop(): Promise<void> {
    if (this.state === 'STOPPING' || this.state === 'STOPPED') return;
    this.state = 'STOPPING';
    // No new liveness decisions while shutting down: workers are not at fault.
    clearInterval(this.sweepTimer);
    await this.sweeping;
    // Drain in-flight calls (streams end when their deadline passes).
    await this.server?.shutdown(this.env.SHUTDOWN_GRACE_MS);
    // Outbound channels to workers are no longer needed.
    this.link?.close();
    // Last, so every handler above could still write.
    await this.store?.close();
    this.state = 'STOPPED';
  }
}
