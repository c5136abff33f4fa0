import { envBoolean, envNumber, hostPort, logLevel } from '@cloudai/config';
import { z } from 'zod';

/** The storage service's configuration, from environment variables only. */
export const Env = z.object({
  LISTEN_ADDR: hostPort.default('127.0.0.1:50052'),
  CLOUDAI_DATA_DIR: z.string().default('./.cloudai'),
  /** Root of stored outputs; default `<CLOUDAI_DATA_DIR>/storage/files`. */
  STORAGE_ROOT: z.string().optional(),
  MONGODB_URI: z.string().startsWith('mongodb', { message: 'expected a mongodb:// or mongodb+srv:// URI' }).optional(),
  SHUTDOWN_GRACE_MS: envNumber({ min: 0, max: 600_000, int: true }).default(10_000),
  LOG_LEVEL: logLevel.default('info'),
  LOG_PRETTY: envBoolean.default(false),
});
export type Env = z.infer<typeof Env>;
