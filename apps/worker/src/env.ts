import { hostname } from 'node:os';
import { dialAddress, dialAddressList, envBoolean, envNumber, hostPort, logLevel, metricsEnv, withTlsEnv } from '@cloudai/config';
import { MAX_DATA_CHUNK_BYTES, WORKER_ID_PATTERN, WORKER_ID_RULE } from '@cloudai/domain';
import { z } from 'zod';

/** `worker-<hostname>`, with characters a worker id cannot hold replaced. */
export function defaultWorkerId(host: string = hostname()): string {
  const cleaned = host.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64 - 'worker-'.length);
  return `worker-${cleaned || 'host'}`;
}

// TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE, TLS_CA_FILE and CLOUDAI_ALLOW_INSECURE come from withTlsEnv;
// METRICS_ADDR and METRICS_TOKEN_FILE from metricsEnv (off unless METRICS_ADDR is set: workers are many, and scraped only where wanted).
export const Env = withTlsEnv(z.object({
  CLOUDAI_MASTER: dialAddress.default('127.0.0.1:50051'),
  LISTEN_ADDR: hostPort.default('127.0.0.1:0'),
  /** the address the master dials; unset = the address the server bound */
  ADVERTISE_ADDR: dialAddress.optional(),
  WORKER_ID: z
    .string()
    .regex(WORKER_ID_PATTERN, { message: `must be ${WORKER_ID_RULE}` })
    .default(() => defaultWorkerId()),
  // Capacity overrides let several workers on one machine look like a
  // heterogeneous cluster; unset = what the host has (see capacity.ts).
  WORKER_CPU: envNumber({ min: 0.001, max: 1024 }).optional(),
  WORKER_MEMORY_GB: envNumber({ min: 0.004, max: 16384 }).optional(),
  WORKER_STORAGE_GB: envNumber({ min: 0, max: 1048576 }).optional(),
  WORKER_GPUS: envNumber({ min: 0, max: 64, int: true }).default(0),
  WORKER_PIDS_LIMIT: envNumber({ min: 16, max: 4_194_304, int: true }).default(1024),
  WORKER_ALLOW_NETWORK: envBoolean.default(false),
  /** how long SIGTERM lets running tasks finish before stopping them */
  WORKER_SHUTDOWN_GRACE_MS: envNumber({ min: 0, max: 3_600_000, int: true }).default(10_000),
  /** seconds a cancelled task's container gets between SIGTERM and SIGKILL */
  WORKER_STOP_GRACE_SECONDS: envNumber({ min: 0, max: 300, int: true }).default(10),
  CLOUDAI_DATA_DIR: z.string().min(1).default('./.cloudai'),
  /** The cluster's join secret (from the master's data folder, `master/join-token`), or a file holding it: exactly one. */
  CLOUDAI_JOIN_TOKEN: z.string().optional(),
  CLOUDAI_JOIN_TOKEN_FILE: z.string().optional(),
  /**
   * The storage service the outputs are uploaded to: one address, or the
   * comma-separated replicas of a storage on a shared object store (an
   * upload that finds one unreachable is retried on another).
   */
  CLOUDAI_STORAGE: dialAddressList.default(['127.0.0.1:50052']),
  /** host folder holding the per-task output folders; unset = <CLOUDAI_DATA_DIR>/worker/<WORKER_ID>/outputs */
  WORKER_OUTPUT_ROOT: z.string().min(1).optional(),
  /** where a task finds its output folder inside the container */
  WORKER_OUTPUT_PATH: z
    .string()
    .regex(/^\/[^:,]*$/, { message: 'must be an absolute path without ":" or ","' })
    .refine((p) => p !== '/' && !p.split('/').includes('..'), { message: 'must not be / or contain ..' })
    .default('/output'),
  /** how often a running task's output is shipped to the master */
  WORKER_LOG_FLUSH_MS: envNumber({ min: 10, max: 60_000, int: true }).default(50),
  /** output per task also kept in memory, so a master that keeps up is shipped to without reading the spool back */
  WORKER_LOG_BUFFER_BYTES: envNumber({ min: 1024, max: 1024 ** 3, int: true }).default(4 * 1024 * 1024),
  /** output per task waiting in the worker's disk spool for the master; beyond it new output is dropped, counted and marked */
  WORKER_LOG_SPOOL_BYTES: envNumber({ min: 64 * 1024, max: 1024 ** 4, int: true }).default(1024 ** 3),
  /** data bytes per UploadOutputs message; the contract allows at most 1 MiB */
  WORKER_UPLOAD_CHUNK_BYTES: envNumber({ min: 1024, max: MAX_DATA_CHUNK_BYTES, int: true }).default(MAX_DATA_CHUNK_BYTES),
  ...metricsEnv(null),
  LOG_LEVEL: logLevel.default('info'),
  LOG_PRETTY: envBoolean.default(false),
}));

export type Env = z.infer<typeof Env>;
