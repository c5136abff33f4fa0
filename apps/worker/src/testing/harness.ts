import { issueMasterAssertion, workerAudience } from '@cloudai/auth';
import { parseEnv } from '@cloudai/config';
import { createLogger } from '@cloudai/logger';
import { WorkerServiceDefinition } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { removeContainersLabelled, requireDocker, tempDir, waitFor } from '@cloudai/testing';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { LABEL_WORKER_ID } from '../docker-executor.js';
import { Env } from '../env.js';
import { Worker } from '../worker.js';
import { FakeMaster } from './fake-master.js';
import { FakeStorage } from './fake-storage.js';

export interface TestWorker {
  app: Worker;
  workerId: string;
  client: ReturnType<typeof connect<typeof WorkerServiceDefinition>>['client'];
  /** the storage this worker uploads to: the one given, or one of its own */
  storage: FakeStorage;
  /** stops the worker and removes every container it labelled */
  close(): Promise<void>;
}

export function uniqueWorkerId(): string {
  return `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * The real worker (its composition root) against `master` and `storage` (a fresh fake
 * storage when not given), with a fresh data dir and short grace periods.
 */
export async function startTestWorker(
  docker: Docker,
  master: FakeMaster,
  env: Record<string, string> = {},
  storage?: FakeStorage,
  { registered = true }: { /** wait until it has registered (false: the master may be down) */ registered?: boolean } = {},
): Promise<TestWorker> {
  const workerId = env.WORKER_ID ?? uniqueWorkerId();
  const ownStorage = storage ? undefined : await FakeStorage.start();
  const dir = await tempDir('cloudai-worker-');
  const config = parseEnv(Env, {
    CLOUDAI_MASTER: master.address,
    CLOUDAI_STORAGE: (storage ?? ownStorage)!.address,
    LISTEN_ADDR: '127.0.0.1:0',
    CLOUDAI_DATA_DIR: dir.path,
    CLOUDAI_JOIN_TOKEN: master.joinSecret,
    WORKER_STOP_GRACE_SECONDS: '1',
    WORKER_SHUTDOWN_GRACE_MS: '1000',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...env,
    WORKER_ID: workerId,
  });
  const app = new Worker(config, createLogger({ name: 'worker', level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }));
  await app.start();
  // The worker learns the master's key when it registers; only then does it take the master's calls.
  if (registered) await waitFor(() => (app.agent.state === 'REGISTERED' ? true : undefined), { what: `${workerId} to register` });
  // Calls as the master: with its assertion for this worker.
  const rpc = connect(WorkerServiceDefinition, app.address, {
    bearer: () => issueMasterAssertion(master.signingKey, workerAudience(workerId)),
  });
  return {
    app,
    workerId,
    client: rpc.client,
    storage: (storage ?? ownStorage)!,
    async close() {
      rpc.close();
      await app.stop();
      await ownStorage?.stop();
      await removeContainersLabelled(docker, `${LABEL_WORKER_ID}=${workerId}`);
      await dir.remove();
    },
  };
}

export interface WorkerFixture {
  /** the fake master every worker of the file reports to */
  readonly master: FakeMaster;
  /** the file's worker against `master`; there once the first test runs */
  readonly worker: TestWorker;
  /** Another worker against `master` with `env` added, closed after the test. */
  extraWorker(env: Record<string, string>): Promise<TestWorker>;
}

/**
 * Registers the hooks of a test file that runs tasks on a real worker: the
 * fake master and the worker start before the first test and stop after the
 * last.
 */
export function useTestWorker(): WorkerFixture {
  const master = FakeMaster.create();
  let started: { docker: Docker; worker: TestWorker } | undefined;
  const extras: TestWorker[] = [];
  const ready = () => {
    if (!started) throw new Error('the test worker starts in beforeAll: use it in hooks and tests');
    return started;
  };
  beforeAll(async () => {
    const docker = await requireDocker();
    await master.listen();
    started = { docker, worker: await startTestWorker(docker, master) };
  });
  afterEach(async () => {
    for (const w of extras.splice(0)) await w.close();
  });
  afterAll(async () => {
    await started?.worker.close();
    await master.stop();
  });
  return {
    master,
    get worker() {
      return ready().worker;
    },
    async extraWorker(env) {
      const w = await startTestWorker(ready().docker, master, env);
      extras.push(w);
      return w;
    },
  };
}
