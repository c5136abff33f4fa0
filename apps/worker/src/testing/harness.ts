import { WorkerServiceDefinition } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { removeContainersLabelled, tempDir } from '@cloudai/testing';
import type Docker from 'dockerode';
import { LABEL_WORKER_ID } from '../docker-executor.js';
import { start, type WorkerApp } from '../main.js';
import type { FakeMaster } from './fake-master.js';
import { FakeStorage } from './fake-storage.js';

export interface TestWorker {
  app: WorkerApp;
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
 * The real worker (main.start) against `master` and `storage` (a fresh fake
 * storage when not given), with a fresh data dir and short grace periods.
 */
export async function startTestWorker(
  docker: Docker,
  master: FakeMaster,
  env: Record<string, string> = {},
  storage?: FakeStorage,
): Promise<TestWorker> {
  const workerId = env.WORKER_ID ?? uniqueWorkerId();
  const ownStorage = storage ? undefined : await FakeStorage.start();
  const dir = await tempDir('cloudai-worker-');
  const app = await start({
    CLOUDAI_MASTER: master.address,
    CLOUDAI_STORAGE: (storage ?? ownStorage)!.address,
    LISTEN_ADDR: '127.0.0.1:0',
    CLOUDAI_DATA_DIR: dir.path,
    WORKER_STOP_GRACE_SECONDS: '1',
    WORKER_SHUTDOWN_GRACE_MS: '1000',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...env,
    WORKER_ID: workerId,
  });
  const rpc = connect(WorkerServiceDefinition, app.address);
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
