import { dialAddressList, envBoolean, envNumber, hostPort, logLevel, metricsEnv, withTlsEnv } from '@cloudai/config';
import { z } from 'zod';

/** The master's configuration, from environment variables only. */
// TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE, TLS_CA_FILE and CLOUDAI_ALLOW_INSECURE come from withTlsEnv;
// METRICS_ADDR and METRICS_TOKEN_FILE from metricsEnv.
export const Env = withTlsEnv(z.object({
  LISTEN_ADDR: hostPort.default('127.0.0.1:50051'),
  CLOUDAI_DATA_DIR: z.string().default('./.cloudai'),
  /** When set, the MongoDB store is used instead of the embedded SQLite file. */
  MONGODB_URI: z.string().startsWith('mongodb', { message: 'expected a mongodb:// or mongodb+srv:// URI' }).optional(),
  /** The storage service, or its replicas comma-separated (any one that is up serves a call). */
  CLOUDAI_STORAGE: dialAddressList.default(['127.0.0.1:50052']),
  WORKER_HEARTBEAT_MS: envNumber({ min: 100, max: 60_000, int: true }).default(2_000),
  /** A worker silent for this long is LOST and its tasks are retried. */
  WORKER_TTL_MS: envNumber({ min: 500, max: 600_000, int: true }).default(10_000),
  /** Placements a task may get before a lost worker fails it for good. */
  TASK_MAX_ATTEMPTS: envNumber({ min: 1, max: 100, int: true }).default(3),
  /** Per-task cap on stored log bytes; beyond it output is dropped and a marker says so. */
  LOG_MAX_BYTES_PER_TASK: envNumber({ min: 1024, max: 2 ** 40, int: true }).default(64 * 1024 * 1024),
  /** Logs of tasks that ended more than this many days ago are removed (0 = keep forever). */
  LOG_RETENTION_DAYS: envNumber({ min: 0, max: 36_500 }).default(0),
  /** Events older than this many days are removed (0 = keep forever). */
  EVENT_RETENTION_DAYS: envNumber({ min: 0, max: 36_500 }).default(30),
  RETENTION_SWEEP_MS: envNumber({ min: 100, max: 86_400_000, int: true }).default(3_600_000),
  SHUTDOWN_GRACE_MS: envNumber({ min: 0, max: 600_000, int: true }).default(10_000),
  /**
   * The Ed25519 key (PEM) the master signs worker credentials, upload grants
   * and its calls to workers and storage with; default
   * `<CLOUDAI_DATA_DIR>/master/signing-key.pem`, made on first start.
   * Several masters over one MongoDB must share one.
   */
  CLOUDAI_SIGNING_KEY_FILE: z.string().optional(),
  /** The cluster's join secret (caj_…), or a file holding it; default: made on first start in the data folder. */
  CLOUDAI_JOIN_TOKEN: z.string().optional(),
  CLOUDAI_JOIN_TOKEN_FILE: z.string().optional(),
  ...metricsEnv('127.0.0.1:9451'),
  LOG_LEVEL: logLevel.default('info'),
  LOG_PRETTY: envBoolean.default(false),
}));
export type Env = z.infer<typeof Env>;
