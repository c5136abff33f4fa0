import { envBoolean, envNumber, hostPort, logLevel, withTlsEnv } from '@cloudai/config';
import { z } from 'zod';

// TLS_CERT_FILE and TLS_KEY_FILE make the web app serve HTTPS; TLS_CA_FILE
// makes its calls to the master TLS (with TLS_CERT_FILE as the client
// certificate when the master asks for one); CLOUDAI_ALLOW_INSECURE lets it
// serve plain HTTP beyond loopback. All from withTlsEnv.
export const Env = withTlsEnv(z.object({
  /** where the console and the HTTP API are served */
  WEB_LISTEN_ADDR: hostPort.default('127.0.0.1:8080'),
  /** the master's TaskService, called as each request's user */
  CLOUDAI_MASTER: hostPort.default('127.0.0.1:50051'),
  /** the console's built files (index.html, assets/); default: the @cloudai/web-console package's dist/ */
  WEB_CONSOLE_DIR: z.string().optional(),
  /** a browser session unused this long is forgotten (ms); the default is 12 h */
  WEB_SESSION_IDLE_MS: envNumber({ int: true, min: 1000, max: 30 * 86_400_000 }).default(12 * 3_600_000),
  /** the most sessions kept at once; the least recently used goes first */
  WEB_MAX_SESSIONS: envNumber({ int: true, min: 1, max: 1_000_000 }).default(10_000),
  /** how long a stop waits for requests in flight before closing their connections (ms) */
  SHUTDOWN_GRACE_MS: envNumber({ int: true, min: 0, max: 600_000 }).default(5_000),
  LOG_LEVEL: logLevel.default('info'),
  LOG_PRETTY: envBoolean.default(false),
}));

export type Env = z.infer<typeof Env>;
