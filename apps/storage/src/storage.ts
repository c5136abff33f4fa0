import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '@cloudai/logger';
import { StorageServiceDefinition } from '@cloudai/proto';
import { startGrpcServer, type RunningGrpcServer } from '@cloudai/rpc';
import type { Env } from './env.js';
import { storageService } from './storage-service.js';

export type StorageState = 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED';

/** The storage process's components; `stop()` undoes `start()` in reverse. */
export class Storage {
  private state: StorageState = 'STARTING';
  private server?: RunningGrpcServer;

  constructor(
    private readonly env: Env,
    private readonly log: Logger,
  ) {}

  get address(): string {
    if (!this.server) throw new Error('storage is not started');
    return this.server.address;
  }

  get root(): string {
    return resolve(this.env.STORAGE_ROOT ?? join(this.env.CLOUDAI_DATA_DIR, 'storage', 'files'));
  }

  async start(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    this.server = await startGrpcServer({
      listenAddr: this.env.LISTEN_ADDR,
      logger: this.log.child({ component: 'grpc' }),
      register: (server) => server.add(StorageServiceDefinition, storageService()),
    });
    this.state = 'RUNNING';
    this.log.info({ address: this.server.address, root: this.root }, 'storage listening');
  }

  async stop(): Promise<void> {
    if (this.state === 'STOPPING' || this.state === 'STOPPED') return;
    this.state = 'STOPPING';
    await this.server?.shutdown(this.env.SHUTDOWN_GRACE_MS);
    this.state = 'STOPPED';
  }
}
