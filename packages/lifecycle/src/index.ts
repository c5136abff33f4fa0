import type { Logger } from 'pino';

/** A long-lived component: an app's composition root. */
export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `service` and stops it on the first SIGTERM or SIGINT, then
 * flushes the log and exits 0. A second signal exits 1 at once, for an
 * operator who does not want to wait for the drain.
 */
export async function runUntilSignal(service: Service, log: Logger): Promise<void> {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without waiting');
      log.flush();
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    service
      .stop()
      .then(() => {
        log.info('stopped');
        log.flush(() => process.exit(0));
      })
      .catch((err: unknown) => {
        log.error({ err }, 'shutdown failed');
        log.flush(() => process.exit(1));
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await service.start();
  } catch (err) {
    log.fatal({ err }, 'failed to start');
    await service.stop().catch(() => {});
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    process.exit(1);
  }
}
