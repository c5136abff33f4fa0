import { setTimeout as sleep } from 'node:timers/promises';

/** How long the master may stay unreachable, once reached, before a follower gives up. */
export const OUTAGE_GRACE_MS = 60_000;
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 5_000;

/**
 * What a long-lived stream (monitor, events --follow) knows of a master that
 * stopped answering: when the outage began, whether the user has been told,
 * how long to wait before reconnecting (doubling up to 5 s), and when to give up.
 */
export class Outage {
  private since: number | undefined;
  private told = false;
  private retryMs = FIRST_RETRY_MS;

  /** The master answered: a later loss starts a new outage. */
  over(): void {
    this.since = undefined;
    this.told = false;
    this.retryMs = FIRST_RETRY_MS;
  }

  /** Notes a lost connection; true the first time in an outage, when the user is to be told. */
  begin(): boolean {
    this.since ??= Date.now();
    if (this.told) return false;
    this.told = true;
    return true;
  }

  /** Whether the outage has lasted longer than OUTAGE_GRACE_MS. */
  get expired(): boolean {
    return this.since !== undefined && Date.now() - this.since > OUTAGE_GRACE_MS;
  }

  /** Waits before the next attempt; an abort of `signal` ends the wait early, quietly. */
  async pause(signal?: AbortSignal): Promise<void> {
    await sleep(this.retryMs, undefined, { signal }).catch(() => undefined);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }
}
