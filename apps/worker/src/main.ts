import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseEnv } from '@cloudai/config';
import { runUntilSignal } from '@cloudai/lifecycle';
import { createLogger, type Logger } from '@cloudai/logger';
import { ClusterServiceDefinition, StorageServiceDefinition, WorkerServiceDefinition } from '@cloudai/proto';
import { connect, startGrpcServer } from '@cloudai/rpc';
import Docker from 'dockerode';
import { Agent } from './agent.js';
import { hostCapacity } from './capacity.js';
import { DockerExecutor } from './docker-executor.js';
import { Env } from './env.js';
import { OutputFolders } from './output-folders.js';
import { OutputUploader } from './output-uploader.js';
import { Reporter } from './reporter.js';
import { TaskRunner } from './task-runner.js';
import { workerService } from './worker-service.js';

export type WorkerAppState = 'RUNNING' | 'STOPPING' | 'STOPPED';

export interface WorkerApp {
  readonly env: Env;
  readonly logger: Logger;
  /** the address the master was told to dial */
  readonly address: string;
  /** the host folder holding the per-task output folders */
  readonly outputRoot: string;
  readonly runner: TaskRunner;
  readonly agent: Agent;
  state(): WorkerAppState;
  /** Graceful shutdown; see the steps in the body. Safe to call twice. */
  stop(): Promise<void>;
}

/** Seconds-level bound on how long stop() waits for results of stopped tasks to reach the master. */
const REPORT_DEADLINE_EXTRA_MS = 5_000;
const SERVER_DRAIN_MS = 5_000;

/**
 * Composition root: config, logger, Docker, the WorkerService server, then
 * registration and heartbeats. Throws with a clear message when the
 * configuration is invalid or the Docker engine is unreachable.
 */
export async function start(source: NodeJS.ProcessEnv = process.env, root?: Logger): Promise<WorkerApp> {
  const env = parseEnv(Env, source);
  const logger = root ?? createLogger({ name: 'worker', level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });
  const log = logger.child({ component: 'main', workerId: env.WORKER_ID });

  // dockerode reads DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) itself.
  const executor = new DockerExecutor(new Docker(), {
    workerId: env.WORKER_ID,
    pidsLimit: env.WORKER_PIDS_LIMIT,
    stopGraceSeconds: env.WORKER_STOP_GRACE_SECONDS,
    outputPath: env.WORKER_OUTPUT_PATH,
    logger,
  });
  await executor.ping(AbortSignal.timeout(10_000));
  // Their executions died with the previous process, so nobody would report
  // them; the master re-queues their tasks when our running list omits them.
  const leftovers = await executor.removeLeftovers(AbortSignal.timeout(60_000));
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

  const master = connect(ClusterServiceDefinition, env.CLOUDAI_MASTER, { defaultDeadlineMs: 10_000 });
  const reporter = new Reporter(master.client, logger);
  // Uploads set no deadline of their own (they last as long as the outputs
  // are big); the default only bounds calls that would forget one.
  const storage = connect(StorageServiceDefinition, env.CLOUDAI_STORAGE, { defaultDeadlineMs: 10_000 });
  const runner = new TaskRunner({
    executor,
    reporter,
    workerId: env.WORKER_ID,
    logger,
    stopGraceSeconds: env.WORKER_STOP_GRACE_SECONDS,
    logs: { client: master.client, flushMs: env.WORKER_LOG_FLUSH_MS, bufferBytes: env.WORKER_LOG_BUFFER_BYTES },
    outputs,
    uploader: new OutputUploader({ client: storage.client, chunkBytes: env.WORKER_UPLOAD_CHUNK_BYTES, logger }),
  });

  const server = await startGrpcServer({
    listenAddr: env.LISTEN_ADDR,
    logger: logger.child({ component: 'grpc' }),
    register: (s) =>
      s.add(
        WorkerServiceDefinition,
        workerService({ runner, workerId: env.WORKER_ID, allowNetwork: env.WORKER_ALLOW_NETWORK, logger }),
      ),
  });
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
    version: await readVersion(),
    logger,
  });
  agent.start();
  log.info(
    { address, master: env.CLOUDAI_MASTER, storage: env.CLOUDAI_STORAGE, capacity, dataDir, outputRoot: outputs.root },
    'worker started',
  );

  let state: WorkerAppState = 'RUNNING';
  let stopping: Promise<void> | undefined;

  async function stop(): Promise<void> {
    state = 'STOPPING';
    log.info('shutting down');
    // New assignments are refused from here on (UNAVAILABLE), so the master
    // places them elsewhere; CancelTask still works while tasks drain.
    const draining = runner.shutdown(
      env.WORKER_SHUTDOWN_GRACE_MS,
      env.WORKER_STOP_GRACE_SECONDS * 1000 + REPORT_DEADLINE_EXTRA_MS,
    );
    // No heartbeats while going away: the master should stop placing work here.
    await agent.stop();
    // Running tasks get the grace period, then are stopped and reported
    // FAILED "worker shut down".
    await draining;
    await server.shutdown(SERVER_DRAIN_MS);
    // The reports and uploads are all settled, so nothing uses the master
    // or storage channels any more.
    master.close();
    storage.close();
    log.info('worker stopped');
    await new Promise<void>((done) => logger.flush(() => done()));
    state = 'STOPPED';
  }

  return {
    env,
    logger,
    address,
    outputRoot: outputs.root,
    runner,
    agent,
    state: () => state,
    stop: () => (stopping ??= stop()),
  };
}

async function readVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const env = parseEnv(Env);
  const logger = createLogger({ name: 'worker', level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });
  let app: WorkerApp | undefined;
  await runUntilSignal(
    {
      start: async () => {
        app = await start(process.env, logger);
      },
      stop: async () => {
        await app?.stop();
      },
    },
    logger,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    // Configuration errors come before there is a logger: one plain line.
    process.stderr.write(`worker: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
