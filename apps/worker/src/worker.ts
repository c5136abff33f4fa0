import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { clientTlsOf, readPackageVersion, serverTlsOf } from '@cloudai/config';
import type { StopReason } from '@cloudai/lifecycle';
import type { Logger } from '@cloudai/logger';
import { createRegistry, serveMetrics, type RunningMetricsServer } from '@cloudai/metrics';
import { ClusterServiceDefinition, StorageServiceDefinition, WorkerServiceDefinition } from '@cloudai/proto';
import { connect, connectReplicas, startGrpcServer, type ReplicaClient, type RunningGrpcServer, type ServiceClient } from '@cloudai/rpc';
import Docker from 'dockerode';
import { readSecret } from '@cloudai/auth';
import { Agent } from './agent.js';
import { hostCapacity } from './capacity.js';
import { DockerExecutor } from './docker-executor.js';
import type { Env } from './env.js';
import { MasterSession } from './master-session.js';
import { WorkerMetrics } from './metrics.js';
import { OutputFolders } from './output-folders.js';
import { OutputUploader } from './output-uploader.js';
import { Reporter } from './reporter.js';
import { TaskRunner } from './task-runner.js';
import { workerService } from './worker-service.js';

export type WorkerState = 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED';

/** What a started worker exposes (to tests, mostly). */
interface Started {
  address: string;
  outputRoot: string;
  runner: TaskRunner;
  agent: Agent;
}

/** Seconds-level bound on how long stop() waits for results of stopped tasks to reach the master. */
const REPORT_DEADLINE_EXTRA_MS = 5_000;
const SERVER_DRAIN_MS = 5_000;
/** In-flight calls get this much once the supervisor died: their callers went with it. */
const FAST_SERVER_DRAIN_MS = 500;

/** The longest stop() is designed to wait: the drain of running tasks, their reports, then in-flight calls. */
export function workerDrainMs(env: Env): number {
  return env.WORKER_SHUTDOWN_GRACE_MS + reportDeadlineMs(env) + SERVER_DRAIN_MS;
}

function reportDeadlineMs(env: Env): number {
  return env.WORKER_STOP_GRACE_SECONDS * 1000 + REPORT_DEADLINE_EXTRA_MS;
}

/**
 * The worker process's components: Docker, the WorkerService server, then
 * registration and heartbeats; `stop()` undoes `start()` in reverse.
 */
export class Worker {
  private currentState: WorkerState = 'STARTING';
  private stopping?: Promise<void>;
  /** set once the supervisor is gone: the stop kills the tasks instead of draining them */
  private fast = false;
  private readonly log: Logger;
  private master?: ServiceClient<typeof ClusterServiceDefinition>;
  private storage?: ReplicaClient<typeof StorageServiceDefinition>;
  private server?: RunningGrpcServer;
  private metricsServer?: RunningMetricsServer;
  private started?: Started;

  constructor(
    readonly env: Env,
    readonly logger: Logger,
  ) {
    this.log = logger.child({ component: 'main', workerId: env.WORKER_ID });
  }

  get state(): WorkerState {
    return this.currentState;
  }

  /** The address the master was told to dial. */
  get address(): string {
    return this.parts().address;
  }

  /** Where GET /metrics is served; undefined when METRICS_ADDR is unset or off. */
  get metricsAddress(): string | undefined {
    return this.metricsServer?.address;
  }

  /** The host folder holding the per-task output folders. */
  get outputRoot(): string {
    return this.parts().outputRoot;
  }

  get runner(): TaskRunner {
    return this.parts().runner;
  }

  get agent(): Agent {
    return this.parts().agent;
  }

  /**
   * Throws with a clear message when the Docker engine is unreachable.
   * `signal` (a shutdown) ends the waits on a slow engine early.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const env = this.env;
    const logger = this.logger;
    const log = this.log;

    // dockerode reads DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) itself.
    const executor = new DockerExecutor(new Docker(), {
      workerId: env.WORKER_ID,
      pidsLimit: env.WORKER_PIDS_LIMIT,
      stopGraceSeconds: env.WORKER_STOP_GRACE_SECONDS,
      outputPath: env.WORKER_OUTPUT_PATH,
      logger,
    });
    const within = (ms: number) => (signal ? AbortSignal.any([signal, AbortSignal.timeout(ms)]) : AbortSignal.timeout(ms));
    await executor.ping(within(10_000));
    // Their executions died with the previous process, so nobody would report
    // them; the master re-queues their tasks when our running list omits them.
    const leftovers = await executor.removeLeftovers(within(60_000));
    if (leftovers > 0) log.warn({ leftovers }, 'removed containers of a previous worker process');

    // Created only once the engine answered, so a misconfigured start leaves nothing behind.
    const dataDir = resolve(env.CLOUDAI_DATA_DIR, 'worker', env.WORKER_ID);
    await mkdir(dataDir, { recursive: true });
    // Absolute: the folders are bound into containers, and Docker binds only absolute host paths.
    const outputs = new OutputFolders(resolve(env.WORKER_OUTPUT_ROOT ?? resolve(dataDir, 'outputs')), logger);
    // Like the leftover containers: their uploads died with the previous
    // process, and their tasks are re-run elsewhere.
    const leftoverOutputs = await outputs.removeLeftovers();
    if (leftoverOutputs > 0) log.warn({ leftoverOutputs }, 'removed output folders of a previous worker process');

    const capacity = await hostCapacity(dataDir, {
      cpu: env.WORKER_CPU,
      memoryGb: env.WORKER_MEMORY_GB,
      storageGb: env.WORKER_STORAGE_GB,
      gpus: env.WORKER_GPUS,
    });

    const session = new MasterSession(
      env.WORKER_ID,
      await readSecret({ value: env.CLOUDAI_JOIN_TOKEN, file: env.CLOUDAI_JOIN_TOKEN_FILE }, 'CLOUDAI_JOIN_TOKEN'),
    );
    const master = connect(ClusterServiceDefinition, env.CLOUDAI_MASTER, {
      defaultDeadlineMs: 10_000,
      bearer: session.credential,
      tls: clientTlsOf(env),
    });
    this.master = master;
    const reporter = new Reporter(master.client, logger);
    const registry = createRegistry();
    const metrics = new WorkerMetrics(registry, () => this.started?.runner.runningContainers() ?? 0);
    // Uploads set no deadline of their own (they last as long as the outputs
    // are big); the default only bounds calls that would forget one.
    const storage = connectReplicas(StorageServiceDefinition, env.CLOUDAI_STORAGE, {
      defaultDeadlineMs: 10_000,
      tls: clientTlsOf(env),
      onDown: (address, err) => logger.warn({ storage: address, err }, 'storage replica unreachable; using another while it is down'),
    });
    this.storage = storage;
    const runner = new TaskRunner({
      executor,
      reporter,
      workerId: env.WORKER_ID,
      logger,
      stopGraceSeconds: env.WORKER_STOP_GRACE_SECONDS,
      logs: {
        client: master.client,
        flushMs: env.WORKER_LOG_FLUSH_MS,
        bufferBytes: env.WORKER_LOG_BUFFER_BYTES,
        spoolBytes: env.WORKER_LOG_SPOOL_BYTES,
        spoolRoot: resolve(dataDir, 'log-spool'),
        onDropped: metrics.onLogDropped,
        onSpoolDisk: metrics.onLogSpoolDisk,
      },
      outputs,
      uploader: new OutputUploader({
        client: storage.client,
        chunkBytes: env.WORKER_UPLOAD_CHUNK_BYTES,
        logger,
        onSent: metrics.onUploadSent,
      }),
    });

    // Unlike the containers and output folders, a spool outlives the process:
    // the assignment stays current, so its log is shipped once registered.
    const spooled = await runner.recoverLogs();
    if (spooled > 0) log.warn({ spooled }, 'found log spools of a previous worker process; shipping them once registered');

    const server = await startGrpcServer({
      listenAddr: env.LISTEN_ADDR,
      tls: serverTlsOf(env),
      allowInsecure: env.CLOUDAI_ALLOW_INSECURE,
      logger: logger.child({ component: 'grpc' }),
      metrics: registry,
      authenticate: session.authenticate,
      reflection: true,
      register: (s) =>
        s.add(
          WorkerServiceDefinition,
          workerService({ runner, workerId: env.WORKER_ID, allowNetwork: env.WORKER_ALLOW_NETWORK, logger }),
        ),
    });
    this.server = server;
    const address = env.ADVERTISE_ADDR ?? server.address;
    if (!env.ADVERTISE_ADDR && /^(0\.0\.0\.0|\[::\]):/.test(server.address)) {
      log.warn({ address }, 'listening on all interfaces without ADVERTISE_ADDR; the master may not dial this address');
    }

    const agent = new Agent({
      client: master.client,
      runner,
      workerId: env.WORKER_ID,
      address,
      capacity,
      version: await readPackageVersion(new URL('../package.json', import.meta.url)),
      session,
      logger,
    });
    this.metricsServer = await serveMetrics(env, registry, logger.child({ component: 'metrics' }));
    agent.start();
    this.started = { address, outputRoot: outputs.root, runner, agent };
    this.currentState = 'RUNNING';
    log.info(
      {
        address,
        master: env.CLOUDAI_MASTER,
        storage: env.CLOUDAI_STORAGE.join(','),
        capacity,
        dataDir,
        outputRoot: outputs.root,
        metrics: this.metricsServer?.address,
      },
      'worker started',
    );
  }

  /**
   * On a signal, a graceful shutdown (see the steps in the body). With the
   * parent gone, a fast one, also cutting short a graceful one under way:
   * the tasks' containers are killed at once and not reported, as the
   * supervisor took the master with it. Safe to call twice: the second call
   * waits for the first.
   */
  stop(reason: StopReason = 'signal'): Promise<void> {
    if (reason === 'parent-gone' && !this.fast) {
      this.fast = true;
      this.log.warn('the supervisor is gone: stopping at once, killing running tasks');
      // Ends the drain of a graceful stop already waiting on the tasks.
      void this.started?.runner.abandon();
    }
    return (this.stopping ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.currentState = 'STOPPING';
    this.log.info('shutting down');
    // New assignments are refused from here on (UNAVAILABLE), so the master
    // places them elsewhere; CancelTask still works while tasks drain.
    const runner = this.started?.runner;
    const draining = this.fast
      ? runner?.abandon()
      : runner?.shutdown(this.env.WORKER_SHUTDOWN_GRACE_MS, reportDeadlineMs(this.env));
    // No heartbeats while going away: the master should stop placing work here.
    await this.started?.agent.stop();
    // Running tasks get the grace period, then are stopped and reported
    // FAILED "worker shut down"; stopping fast, they are already being killed.
    await draining;
    await this.server?.shutdown(this.fast ? FAST_SERVER_DRAIN_MS : SERVER_DRAIN_MS);
    await this.metricsServer?.close();
    // The reports and uploads are all settled, so nothing uses the master
    // or storage channels any more.
    this.master?.close();
    this.storage?.close();
    this.log.info('worker stopped');
    this.currentState = 'STOPPED';
  }

  private parts(): Started {
    if (!this.started) throw new Error('worker is not started');
    return this.started;
  }
}
