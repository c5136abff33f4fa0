import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { serverTlsOf } from '@cloudai/config';
import type { Logger } from '@cloudai/logger';
import { createRegistry, serveMetrics, type RunningMetricsServer } from '@cloudai/metrics';
import { StorageServiceDefinition } from '@cloudai/proto';
import { checkChunkRelease, limitClientStreamReadahead, limitServerStreamSendQueue, startGrpcServer, type RunningGrpcServer } from '@cloudai/rpc';
import { openStore, type FileMetadataStore } from '@cloudai/store';
import type { Env } from './env.js';
import { syncFilesystem } from './durability.js';
import { MasterKey } from './master-key.js';
import { StorageMetrics } from './metrics.js';
import { ObjectStore } from '@cloudai/object-store';
import type { OutputBackend } from './backends/backend.js';
import { FsBackend } from './backends/fs.js';
import { hashThread } from './hash-thread.js';
import { S3Backend } from './backends/s3.js';
import { TaskOutputs } from './outputs.js';
import { Retention } from './retention.js';
import { storageService } from './storage-service.js';
import { checkTarHardening } from './tar-hardening.js';

export type StorageState = 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED';

/** Upload messages received and not yet taken, at most (grpc-js's default is 16). */
const UPLOAD_READAHEAD_MESSAGES = 6;

/**
 * Download messages (1 MiB chunks) queued for a slower reader beside the one
 * being sent (grpc-js's default is 16). A stream waits for its queue to empty
 * before it writes again: at 2 that bubble cost a 1 GiB download ~20%; 4 ran
 * as fast as 16.
 */
const DOWNLOAD_SEND_QUEUE_MESSAGES = 4;

/** Room for a 1 MiB data chunk plus the message framing around it. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** The storage process's components; `stop()` undoes `start()` in reverse. */
export class Storage {
  private state: StorageState = 'STARTING';
  private server?: RunningGrpcServer;
  private store?: FileMetadataStore;
  private retention?: Retention;
  private outputs?: TaskOutputs;
  private metrics?: RunningMetricsServer;
  private objects?: ObjectStore;

  constructor(
    private readonly env: Env,
    private readonly log: Logger,
  ) {}

  get address(): string {
    if (!this.server) throw new Error('storage is not started');
    return this.server.address;
  }

  /** Where GET /metrics is served; undefined when METRICS_ADDR is off. */
  get metricsAddress(): string | undefined {
    return this.metrics?.address;
  }

  get root(): string {
    return resolve(this.env.STORAGE_ROOT ?? join(this.env.CLOUDAI_DATA_DIR, 'storage', 'files'));
  }

  /** The output folders and records (for tests and the retention sweep). */
  get taskOutputs(): TaskOutputs {
    if (!this.outputs) throw new Error('storage is not started');
    return this.outputs;
  }

  get retentionSweeper(): Retention {
    if (!this.retention) throw new Error('storage is not started');
    return this.retention;
  }

  async start(): Promise<void> {
    // Refuse to serve uploads with a node-tar the entry checks do not reach.
    checkTarHardening();
    // Uploads release each message once stored: memory would grow without it.
    checkChunkRelease();
    // Uploads are 1 MiB messages: a few in hand (and the HTTP/2 window in flight) keep storage busy.
    limitClientStreamReadahead(UPLOAD_READAHEAD_MESSAGES);
    limitServerStreamSendQueue(DOWNLOAD_SEND_QUEUE_MESSAGES);
    const dataDir = resolve(this.env.CLOUDAI_DATA_DIR, 'storage');
    await mkdir(dataDir, { recursive: true });
    const sqlitePath = join(dataDir, 'metadata.db');
    this.store = await openStore({
      mongodbUri: this.env.MONGODB_URI,
      sqlitePath,
      onCheckpointError: (message) => this.log.warn({ sqlitePath, err: message }, 'a background SQLite WAL checkpoint failed; the WAL may grow'),
    });
    const log = this.log.child({ component: 'outputs' });
    const limits = {
      maxBytes: this.env.STORAGE_MAX_TASK_BYTES,
      maxFiles: this.env.STORAGE_MAX_TASK_FILES,
      maxDepth: this.env.STORAGE_MAX_PATH_DEPTH,
    };
    let backend: OutputBackend;
    if (this.env.objectStore) {
      this.objects = new ObjectStore(this.env.objectStore);
      backend = new S3Backend(this.objects, this.store, limits, log);
    } else {
      backend = new FsBackend(this.root, limits, log, this.env.STORAGE_FSYNC ? syncFilesystem : undefined);
      // The fs backend hashes large files there (the s3 sink hashes its own parts).
      hashThread.start();
    }
    this.outputs = new TaskOutputs(backend, this.store, log);
    // Before serving: whatever a killed process left half-received is
    // removed, and the worker's retry starts from nothing; and the backend
    // fails now, not at the first upload, where it cannot work.
    const leftovers = await backend.open();
    if (leftovers > 0) this.log.warn({ leftovers }, 'removed unfinished uploads left by a previous run');
    const outputs = this.outputs;
    const masterKeyFile = resolve(
      this.env.CLOUDAI_MASTER_PUBLIC_KEY_FILE ?? join(this.env.CLOUDAI_DATA_DIR, 'master', 'signing-key.pub'),
    );
    const master = new MasterKey(masterKeyFile);
    const registry = createRegistry();
    const metrics = new StorageMetrics(registry);
    this.server = await startGrpcServer({
      listenAddr: this.env.LISTEN_ADDR,
      tls: serverTlsOf(this.env),
      allowInsecure: this.env.CLOUDAI_ALLOW_INSECURE,
      logger: this.log.child({ component: 'grpc' }),
      maxMessageBytes: MAX_MESSAGE_BYTES,
      metrics: registry,
      authenticate: master.authenticate,
      reflection: true,
      register: (server) =>
        server.add(StorageServiceDefinition, storageService(outputs, master, { uploadIdleMs: this.env.STORAGE_UPLOAD_IDLE_MS, metrics })),
    });
    this.retention = new Retention(
      this.outputs,
      this.store,
      { days: this.env.OUTPUT_RETENTION_DAYS, sweepMs: this.env.RETENTION_SWEEP_MS },
      this.log.child({ component: 'retention' }),
    );
    this.retention.start();
    this.metrics = await serveMetrics(this.env, registry, this.log.child({ component: 'metrics' }));
    this.state = 'RUNNING';
    this.log.info(
      {
        address: this.server.address,
        backend: backend.kind,
        ...(this.env.objectStore
          ? { bucket: this.env.objectStore.bucket, prefix: this.env.objectStore.prefix, endpoint: this.env.objectStore.endpoint }
          : { root: this.root }),
        masterKeyFile,
        metrics: this.metrics?.address,
      },
      'storage listening',
    );
  }

  async stop(): Promise<void> {
    if (this.state === 'STOPPING' || this.state === 'STOPPED') return;
    this.state = 'STOPPING';
    // No new sweep may start deleting while calls drain.
    await this.retention?.stop();
    // Let in-flight uploads and downloads finish (or be cancelled at the deadline).
    await this.server?.shutdown(this.env.SHUTDOWN_GRACE_MS);
    await this.metrics?.close();
    // Last: every user of the store and the object store is gone.
    await this.store?.close();
    this.objects?.destroy();
    this.state = 'STOPPED';
  }
}
