import { WorkerServiceDefinition } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { removeContainersLabelled, tempDir } from '@cloudai/testing';
import type Docker from 'dockerode';
import { LABEL_WORKER_ID } from '../docker-executor.js';
import { start, type WorkerApp } from '../main.js';
import type { FakeMaster } from './fake-master.js';

export interface TestWorker {
  app: WorkerApp;
  workerId: string;
  client: ReturnType<typeof connect<typeof WorkerServiceDefinition>>['client'];
  /** stops the worker and removes every container it labelled */
  close(): Promise<void>;
}

export function uniqueWorkerId(): string {
  return `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The real worker (main.start) against `master`, with a fresh data dir and short grace periods. */
export async function startTestWorker(
  docker: Docker,
  master: FakeMaster,
  env: Record<string, string> = {},
): Promise<TestWorker> {
  const workerId = env.WORKER_ID ?? uniqueWorkerId();
  const dir = await tempDir('cloudai-worker-');
  const app = await start({
    CLOUDAI_MASTER: master.address,
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
    async close() {
      rpc.close();
      await app.stop();
      await removeContainersLabelled(docker, `${LABEL_WORKER_ID}=${workerId}`);
      await dir.remove();
    },
  };
}
