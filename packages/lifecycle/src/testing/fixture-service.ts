// A tiny service run by run-service.test.ts in a child process: each
// FIXTURE_* variable makes it misbehave in one way runService must handle.
import { envBoolean, envNumber, logLevel } from '@cloudai/config';
import type { Logger } from '@cloudai/logger';
import { z } from 'zod';
import { runService } from '../run-service.js';
import type { Service, StopReason } from '../service.js';

const Env = z.object({
  LOG_LEVEL: logLevel.default('info'),
  LOG_PRETTY: envBoolean.default(false),
  FIXTURE_DEADLINE_MS: envNumber({ min: 1, int: true }).default(60_000),
  /** `waits`: start() waits until its signal is aborted, as a start on a slow engine does */
  FIXTURE_START: z.enum(['returns', 'throws', 'waits']).default('returns'),
  FIXTURE_STOP: z.enum(['returns', 'hangs']).default('returns'),
  /** lines stop() logs just before it returns, to show none is lost at exit */
  FIXTURE_STOP_LINES: envNumber({ min: 0, int: true }).default(0),
  FIXTURE_FAULT: z.enum(['none', 'rejection', 'exception']).default('none'),
});
type Env = z.infer<typeof Env>;

class FixtureService implements Service {
  private work?: NodeJS.Timeout;

  constructor(
    private readonly env: Env,
    private readonly log: Logger,
  ) {}

  async start(signal?: AbortSignal): Promise<void> {
    if (this.env.FIXTURE_START === 'throws') throw new Error('fixture start failed');
    if (this.env.FIXTURE_START === 'waits') {
      this.log.info('starting');
      // Held open as a connection attempt would; only the signal ends the wait.
      const attempt = setInterval(() => {}, 60_000);
      await new Promise<never>((_resolve, reject) =>
        signal?.addEventListener(
          'abort',
          () => {
            clearInterval(attempt);
            reject(new Error('start aborted'));
          },
          { once: true },
        ),
      );
    }
    // Real work holds the event loop open, as a server does.
    this.work = setInterval(() => {}, 60_000);
    this.log.info('serving');
    if (this.env.FIXTURE_FAULT === 'rejection') {
      setImmediate(() => void Promise.reject(new Error('fixture lost a promise')));
    }
    if (this.env.FIXTURE_FAULT === 'exception') {
      setImmediate(() => {
        throw new Error('fixture threw from a callback');
      });
    }
  }

  async stop(reason?: StopReason): Promise<void> {
    this.log.info({ reason }, 'stop called');
    clearInterval(this.work);
    // Nothing left holds the event loop: only runService's deadline can end this.
    if (this.env.FIXTURE_STOP === 'hangs') await new Promise<never>(() => {});
    const filler = 'x'.repeat(1024);
    for (let i = 0; i < this.env.FIXTURE_STOP_LINES; i++) this.log.info({ i, filler }, 'stop line');
  }
}

runService({
  name: 'fixture',
  env: Env,
  create: (env, logger) => new FixtureService(env, logger.child({ component: 'fixture' })),
  shutdownDeadlineMs: (env) => env.FIXTURE_DEADLINE_MS,
});
