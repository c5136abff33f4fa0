import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { loadOrCreateSecret } from '@cloudai/auth';
import { clientTlsOf, readPackageVersion, serverTlsOf } from '@cloudai/config';
import type { Logger } from '@cloudai/logger';
import { createRegistry, serveMetrics, type RunningMetricsServer } from '@cloudai/metrics';
import type { CallContext } from 'nice-grpc';
import {
  ClusterServiceDefinition,
  EventServiceDefinition,
  IdentityServiceDefinition,
  SchedulerServiceDefinition,
  TaskServiceDefinition,
} from '@cloudai/proto';
import { limitResponseStreamReadahead, limitServerStreamSendQueue, startGrpcServer, type RunningGrpcServer } from '@cloudai/rpc';
import { openStore, type Store } from '@cloudai/store';
import { AssignmentDispatcher, DEFAULT_DISPATCH, type DispatchOptions } from './assignment-dispatch.js';
import { Authenticator } from './auth/authenticator.js';
import { MasterCredentials } from './auth/credentials.js';
import { loadMasterSecrets } from './auth/master-secrets.js';
import type { AuthContext } from './auth/principal.js';
import { clusterService } from './cluster-service.js';
import type { Env } from './env.js';
import { EventLog } from './event-log.js';
import { eventService } from './event-service.js';
import { MasterEvents } from './events.js';
import { MasterMetrics } from './metrics.js';
import { OutputFiles } from './output-files.js';
import { Placement } from './placement.js';
import { schedulerService } from './scheduler-service.js';
import { TaskLifecycle } from './task-lifecycle.js';
import { TaskLogs } from './task-logs.js';
import { TaskManager } from './task-manager.js';
import { identityService } from './identity-service.js';
import { taskService } from './task-service.js';
import { UserDirectory } from './users.js';
import { WorkerLink } from './worker-link.js';
import { WorkerProgress } from './worker-progress.js';
import { WorkerRegistry } from './worker-registry.js';

export type MasterState = 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED';

/**
 * Messages a stream to a slow client (a log follower, a download) queues
 * beside the one HTTP/2 is sending: log entries are up to 256 KiB, download
 * chunks 1 MiB, and grpc-js's 16 per stream held most of the master's
 * memory under 20 followers of one log (their peak fell from 263–290 to
 * 177–185 MiB with 2 and a smaller page; 213 with 4). A download relayed at
 * 2 ran as fast as at 16 once the master read 4 ahead from storage and
 * storage queued 4 (DOWNLOAD_SEND_QUEUE_MESSAGES there).
 */
const STREAM_SEND_QUEUE_MESSAGES = 2;
/**
 * 1 MiB chunks of a download relayed from storage that the master reads
 * ahead of what it sends on (grpc-js's default is 16). At 2 a 1 GiB download
 * ran ~20% slower (157–215 against 195–265 MB/s); 4 ran as fast as 16.
 */
const RELAY_READAHEAD_MESSAGES = 4;

/** The master process's components, wired once; `stop()` undoes `start()` in reverse. */
export class Master {
  private state: MasterState = 'STARTING';
  private store?: Store;
  private server?: RunningGrpcServer;
  private link?: WorkerLink;
  private dispatcher?: AssignmentDispatcher;
  private files?: OutputFiles;
  private logs?: TaskLogs;
  private metrics?: RunningMetricsServer;
  /** ends the metrics' subscription to the change channel */
  private readonly counting = new AbortController();
  private eventLog?: EventLog;
  /** Aborted once nothing more can change: the event log stops listening to the change channel. */
  private readonly recording = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly env: Env,
    private readonly log: Logger,
    /**
     * Tuning that is not configuration: tests shorten the delivery window;
     * the auth benchmark replaces authentication to measure what it costs.
     * Nothing in the environment reaches these.
     */
    private readonly tuning: {
      dispatch?: Partial<DispatchOptions>;
      authenticate?: (method: string, context: CallContext) => Promise<AuthContext>;
    } = {},
  ) {}

  get address(): string {
    if (!this.server) throw new Error('master is not started');
    return this.server.address;
  }

  /** Where GET /metrics is served; undefined when METRICS_ADDR is off. */
  get metricsAddress(): string | undefined {
    return this.metrics?.address;
  }

  /** Events that could not be stored since start (see EventLog.failures). */
  get eventFailures(): number {
    return this.eventLog?.failures ?? 0;
  }

  async start(): Promise<void> {
    const env = this.env;
    const dir = join(env.CLOUDAI_DATA_DIR, 'master');
    const sqlitePath = join(dir, 'cloudai.db');
    await mkdir(dir, { recursive: true });
    this.store = await openStore({
      mongodbUri: env.MONGODB_URI,
      sqlitePath,
      onCheckpointError: (message) => this.log.warn({ sqlitePath, err: message }, 'a background SQLite WAL checkpoint failed; the WAL may grow'),
    });
    this.log.info({ store: this.store.kind, ...(env.MONGODB_URI ? {} : { sqlitePath }) }, 'store opened');
    const eventLog = new EventLog(this.store, this.log.child({ component: 'events' }));
    this.eventLog = eventLog;

    const secrets = await loadMasterSecrets({
      dir,
      signingKeyFile: env.CLOUDAI_SIGNING_KEY_FILE,
      joinToken: env.CLOUDAI_JOIN_TOKEN,
      joinTokenFile: env.CLOUDAI_JOIN_TOKEN_FILE,
    });
    const credentials = new MasterCredentials(secrets.signingKey);
    const authenticator = new Authenticator(
      this.store,
      secrets.signingKey.verifyingKey,
      secrets.joinSecret,
      this.log.child({ component: 'auth' }),
    );
    const users = new UserDirectory(this.store, authenticator, eventLog, this.log.child({ component: 'users' }));
    const bootstrapFile = join(dir, 'bootstrap-token');
    const bootstrap = await users.bootstrap(async (token) => {
      // A file left by a start that crashed before storing its token holds one that never worked.
      await rm(bootstrapFile, { force: true });
      await loadOrCreateSecret(bootstrapFile, () => token);
    });
    // The token itself never reaches the log: only where to find it.
    if (bootstrap) {
      this.log.warn({ file: bootstrapFile, tokenId: bootstrap.tokenId }, 'created user admin; its first API token is in this file');
    }
    this.log.info(
      { publicKeyFile: secrets.publicKeyFile, ...(secrets.joinTokenFile ? { joinTokenFile: secrets.joinTokenFile } : {}) },
      'secrets ready',
    );

    const events = new MasterEvents();
    const registry = createRegistry();
    new MasterMetrics(registry, this.store, events, this.counting.signal);
    eventLog.subscribe(events, this.recording.signal);
    this.link = new WorkerLink(credentials, this.log.child({ component: 'worker-link' }), clientTlsOf(env));
    this.dispatcher = new AssignmentDispatcher(this.link, events, this.log, { ...DEFAULT_DISPATCH, ...this.tuning.dispatch });
    this.files = new OutputFiles(env.CLOUDAI_STORAGE, credentials, clientTlsOf(env));
    const logs = new TaskLogs(this.store, events, this.log.child({ component: 'logs' }), {
      maxBytesPerTask: env.LOG_MAX_BYTES_PER_TASK,
    });
    this.logs = logs;
    const lifecycle = new TaskLifecycle(this.store, events);
    const tasks = new TaskManager(this.store, lifecycle, events, this.link, this.log.child({ component: 'tasks' }), {
      maxAttempts: env.TASK_MAX_ATTEMPTS,
    });
    const placement = new Placement(
      this.store,
      lifecycle,
      tasks,
      this.dispatcher,
      events,
      this.log.child({ component: 'placement' }),
    );
    const workers = new WorkerRegistry(
      this.store,
      tasks,
      events,
      this.link,
      this.dispatcher,
      this.log.child({ component: 'workers' }),
      env.WORKER_TTL_MS,
    );

    const version = await readPackageVersion(new URL('../package.json', import.meta.url));
    limitServerStreamSendQueue(STREAM_SEND_QUEUE_MESSAGES);
    limitResponseStreamReadahead(RELAY_READAHEAD_MESSAGES);
    this.server = await startGrpcServer<AuthContext>({
      listenAddr: env.LISTEN_ADDR,
      tls: serverTlsOf(env),
      allowInsecure: env.CLOUDAI_ALLOW_INSECURE,
      logger: this.log.child({ component: 'grpc' }),
      metrics: registry,
      authenticate: this.tuning.authenticate ?? authenticator.authenticate,
      reflection: true,
      register: (server) => {
        server.add(TaskServiceDefinition, taskService(tasks, workers, logs, this.files!, eventLog));
        server.add(IdentityServiceDefinition, identityService(users, version));
        server.add(EventServiceDefinition, eventService(eventLog, tasks));
        server.add(
          ClusterServiceDefinition,
          clusterService(tasks, workers, logs, credentials, new WorkerProgress(tasks, eventLog), {
            heartbeatIntervalMs: env.WORKER_HEARTBEAT_MS,
          }),
        );
        server.add(SchedulerServiceDefinition, schedulerService(placement, events));
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
    if (env.EVENT_RETENTION_DAYS > 0) {
      const days = env.EVENT_RETENTION_DAYS;
      this.every(env.RETENTION_SWEEP_MS, 'event-retention', () =>
        eventLog.purgeBefore(new Date(Date.now() - days * 86_400_000)),
      );
    }
    this.metrics = await serveMetrics(env, registry, this.log.child({ component: 'metrics' }));
    this.state = 'RUNNING';
    this.log.info(
      { address: this.server.address, storage: env.CLOUDAI_STORAGE.join(','), metrics: this.metrics?.address },
      'master listening',
    );
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
    this.eventLog?.close();
    // Drain in-flight calls.
    await this.server?.shutdown(this.env.SHUTDOWN_GRACE_MS);
    // Commits drained above may have queued assignments: stop sending them
    // (a task left SCHEDULED is taken back by the next master when its
    // worker does not know it) and let the delivery handlers finish writing.
    await this.dispatcher?.stop();
    // Outbound channels to workers and storage are no longer needed.
    this.link?.close();
    this.files?.close();
    // Scrapes were answered through the drain; the gauges read the store, so this goes before it.
    await this.metrics?.close();
    this.counting.abort();
    // Nothing changes any more: store what was recorded.
    this.recording.abort();
    await this.eventLog?.flush();
    // Last, so every handler above could still write.
    await this.store?.close();
    this.state = 'STOPPED';
  }
}
