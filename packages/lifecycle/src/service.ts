/**
 * Why a service is stopped, so that it can choose how. `signal`: SIGTERM or
 * SIGINT, from an operator or a supervisor that waits, so the service drains
 * as its grace periods allow. `parent-gone`: the supervisor holding the
 * parent pipe died, and its peers are stopping with it: nobody waits for a
 * drain and nobody is left to take its reports, so the service stops within
 * PARENT_GONE_DEADLINE_MS, leaving nothing running. `fault`: start() or an
 * unhandled error failed the process; it stops as on a signal.
 */
export type StopReason = 'signal' | 'parent-gone' | 'fault';

/** A long-lived component: an app's composition root. */
export interface Service {
  /**
   * `signal` is aborted once a shutdown begins, even while start() still
   * runs: a start waiting on something slow (a Docker engine, a peer) ends
   * early instead of holding the shutdown until its own timeout.
   */
  start(signal?: AbortSignal): Promise<void>;
  /**
   * Undoes start(), also after a start() that failed part-way. Without a
   * `reason` (a test, an embedding), it stops as on a signal. Called again
   * with `parent-gone` while an earlier stop runs, it hurries that stop,
   * which still settles the returned promise of the first call.
   */
  stop(reason?: StopReason): Promise<void>;
}
