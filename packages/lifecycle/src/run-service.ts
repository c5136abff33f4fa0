import { parseEnv } from '@cloudai/config';
import { createLogger, type Logger } from '@cloudai/logger';
import type { z } from 'zod';
import { parentPipeFd, watchParentPipe } from './parent-pipe.js';
import type { Service, StopReason } from './service.js';

/** The variables runService itself reads from every app's env schema. */
export interface LoggingEnv {
  LOG_LEVEL: string;
  LOG_PRETTY: boolean;
}

export interface ServiceOptions<S extends z.ZodType<LoggingEnv>> {
  /** the process's name: the root logger's `name` and the prefix of a configuration error */
  name: string;
  /** the app's env schema, parsed once from process.env */
  env: S;
  /** builds the composition root; start() is called once, stop() once on shutdown */
  create(env: z.output<S>, logger: Logger): Service;
  /**
   * how long the whole shutdown may take, from the signal to the exit, before
   * the process exits 1 anyway; at most PARENT_GONE_DEADLINE_MS once the
   * parent is gone
   */
  shutdownDeadlineMs(env: z.output<S>): number;
}

/**
 * Time the stop steps outside an app's configured drain get in its
 * shutdown deadline: closing channels and stores, flushing logs.
 */
export const STOP_OVERHEAD_MS = 5_000;

/**
 * The whole shutdown once the parent pipe ended: the supervisor died and the
 * apps must be gone within seconds, not after a worker's drain of minutes.
 * With the flush deadline, an app is gone 5 s after its supervisor at most.
 */
export const PARENT_GONE_DEADLINE_MS = 3_000;

/** A stuck log transport must not hold an exiting process either. */
const FLUSH_DEADLINE_MS = 2_000;

/**
 * Runs one app as a process: parses its env, creates the root logger and
 * the service, starts it, and stops it on SIGTERM/SIGINT, the end of its
 * parent pipe (CLOUDAI_PARENT_PIPE_FD: the supervisor died), an unhandled
 * rejection or an uncaught exception, telling stop() which (StopReason).
 * The whole shutdown is bounded by `shutdownDeadlineMs`, and by
 * PARENT_GONE_DEADLINE_MS when the parent is gone; a second signal exits at
 * once. Exits 0 after a clean stop on a signal or the parent's exit, 1
 * otherwise.
 */
export function runService<S extends z.ZodType<LoggingEnv>>(options: ServiceOptions<S>): void {
  let env: z.output<S>;
  let logger: Logger;
  let parentFd: number | undefined;
  try {
    env = parseEnv(options.env);
    parentFd = parentPipeFd();
    logger = createLogger({ name: options.name, level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });
  } catch (err) {
    // There is no logger yet: one plain line, as a command-line program gives.
    process.stderr.write(`${options.name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }

  let service: Service | undefined;
  let started: Promise<void> = Promise.resolve();
  /** why the shutdown under way began (or was hurried); undefined until one does */
  let stopping: StopReason | undefined;
  let exitCode = 0;
  // Aborted when the shutdown begins, so that a start() still waiting ends.
  const starting = new AbortController();

  const exit = (code: number): void => {
    // Also the code if the event loop empties before the flush answers.
    process.exitCode = code;
    setTimeout(() => process.exit(code), FLUSH_DEADLINE_MS).unref();
    logger.flush(() => process.exit(code));
  };

  const exitAfter = (deadlineMs: number): void => {
    // Kept referenced: a stop() waiting on something the event loop does not
    // hold must still end in exit 1, not in a silent exit 0 of an empty loop.
    setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown deadline passed; exiting without waiting for stop');
      exit(1);
    }, deadlineMs);
  };

  /** `cause` says in the log what `reason` tells the service. */
  const shutdown = (code: number, reason: StopReason, cause: Record<string, unknown>): void => {
    // A fault during a shutdown for a signal still makes the exit a failure.
    exitCode = Math.max(exitCode, code);
    if (stopping) {
      // The supervisor died while this process drained: nobody waits for the drain any more.
      if (reason === 'parent-gone' && stopping !== 'parent-gone') hurry(cause);
      return;
    }
    stopping = reason;
    starting.abort();
    const deadlineMs =
      reason === 'parent-gone'
        ? Math.min(options.shutdownDeadlineMs(env), PARENT_GONE_DEADLINE_MS)
        : options.shutdownDeadlineMs(env);
    logger.info({ ...cause, deadlineMs }, 'shutting down');
    exitAfter(deadlineMs);
    // Stopping while start() still runs would tear down what it is building.
    started
      .then(() => service?.stop(reason))
      .then(
        () => {
          logger.info('stopped');
          exit(exitCode);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          exit(1);
        },
      );
  };

  /** Cuts a shutdown for a signal or a fault short: the parent is gone too. */
  const hurry = (cause: Record<string, unknown>): void => {
    stopping = 'parent-gone';
    logger.warn({ ...cause, deadlineMs: PARENT_GONE_DEADLINE_MS }, 'parent gone during the shutdown; hurrying it');
    exitAfter(PARENT_GONE_DEADLINE_MS);
    // The first stop() still ends in the exit; this call only tells the service to hurry it.
    void started.then(() => service?.stop('parent-gone')).catch(() => {});
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // For an operator who does not want to wait for the drain.
      logger.warn({ signal }, 'second signal: exiting without waiting');
      exit(1);
      return;
    }
    shutdown(0, 'signal', { signal });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Nobody is left to send a signal, and nobody reads stdout any more.
  if (parentFd !== undefined) watchParentPipe(parentFd, () => shutdown(0, 'parent-gone', { parent: 'exited' }));
  // The process may be in any state after either: stop it, through the same bounded shutdown.
  process.on('unhandledRejection', (reason: unknown) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection');
    shutdown(1, 'fault', { fault: 'unhandledRejection' });
  });
  process.on('uncaughtException', (err: Error) => {
    logger.fatal({ err }, 'uncaught exception');
    shutdown(1, 'fault', { fault: 'uncaughtException' });
  });

  try {
    service = options.create(env, logger);
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    exit(1);
    return;
  }
  started = service.start(starting.signal).catch((err: unknown) => {
    // Not a fault: the shutdown cut the start short.
    if (starting.signal.aborted) {
      logger.info({ err }, 'start abandoned for the shutdown');
      return;
    }
    logger.fatal({ err }, 'failed to start');
    shutdown(1, 'fault', { fault: 'start' });
  });
}
