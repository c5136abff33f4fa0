import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger } from 'pino';

export interface LoggerConfig {
  /** the process's name, e.g. "master" */
  name: string;
  level?: string;
  /** human-readable output (development only); NDJSON otherwise */
  pretty?: boolean;
  /** where NDJSON lines go instead of stdout (not with `pretty`) */
  destination?: DestinationStream;
}

/**
 * Fields that hold credentials (API tokens, the join secret, worker
 * credentials, upload grants, browser session cookies and CSRF tokens) or
 * task environments.
 */
const SECRET_FIELDS = [
  'token',
  'authorization',
  'secret',
  'joinSecret',
  'joinToken',
  'credential',
  'grant',
  'uploadGrant',
  'assertion',
  'cookie',
  '["set-cookie"]',
  'csrfToken',
  '["x-csrf-token"]',
];
/** Paths never written to logs: credentials and task environments. */
const REDACT = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*${field.startsWith('[') ? '' : '.'}${field}`]),
  'env',
  '*.env',
  'spec.env',
  '*.spec.env',
  'task.spec.env',
];

/** The one pino root of a process; components take `logger.child({ component })`. */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    name: config.name,
    level: config.level ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  // Synchronous writes to stdout: pino's default asynchronous destination
  // can still hold a line in flight when the process exits (flush() does not
  // wait for it), so the last lines of a shutdown or crash came late or never.
  // Once stdout is a closed pipe (whoever read it is gone), pino's own
  // destination drops every line quietly instead of throwing EPIPE.
  const stdout = (): DestinationStream => pino.destination({ dest: 1, sync: true });
  if (config.pretty) {
    // Formatted in this thread, not in pino-pretty's worker-thread transport:
    // that one, once stdout was closed, held every exit for 12 s (a flush
    // that never answers, then a 10 s synchronous flush on exit).
    const format = prettyFactory({ colorize: true });
    const out = stdout();
    return pino(options, { write: (line: string) => out.write(format(line)) });
  }
  return pino(options, config.destination ?? stdout());
}
