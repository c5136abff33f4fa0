import { envBoolean, envNumber, hostPort, logLevel, metricsEnv, withTlsEnv } from '@cloudai/config';
import { z } from 'zod';
import { POLICY_NAMES } from './policies.js';

// TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE, TLS_CA_FILE and CLOUDAI_ALLOW_INSECURE come from withTlsEnv;
// METRICS_ADDR and METRICS_TOKEN_FILE from metricsEnv.
export const Env = withTlsEnv(z.object({
  /** the master's SchedulerService */
  CLOUDAI_MASTER: hostPort.default('127.0.0.1:50051'),
  SCHEDULER_POLICY: z.enum(POLICY_NAMES, { error: `expected one of ${POLICY_NAMES.join(', ')}` }).default('binpack'),
  /** pause after a round that placed nothing, before the next (long-polling) snapshot; a round that placed something is followed at once */
  SCHEDULER_INTERVAL_MS: envNumber({ int: true, min: 10, max: 3_600_000 }).default(200),
  /** queued tasks per snapshot, oldest first; capped so a snapshot stays well under the 8 MiB message limit */
  SCHEDULER_MAX_TASKS: envNumber({ int: true, min: 1, max: 50_000 }).default(10_000),
  /** The cluster's join secret (the master's `master/join-token`), or a file holding it: exactly one. */
  CLOUDAI_JOIN_TOKEN: z.string().optional(),
  CLOUDAI_JOIN_TOKEN_FILE: z.string().optional(),
  /** serves only gRPC health */
  LISTEN_ADDR: hostPort.default('127.0.0.1:0'),
  ...metricsEnv('127.0.0.1:9453'),
  LOG_LEVEL: logLevel.default('info'),
  LOG_PRETTY: envBoolean.default(false),
}));

export type Env = z.infer<typeof Env>;
