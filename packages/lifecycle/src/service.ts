/** A long-lived component: an app's composition root. */
export interface Service {
  /**
   * `signal` is aborted once a shutdown begins, even while start() still
   * runs: a start waiting on something slow (a Docker engine, a peer) ends
   * early instead of holding the shutdown until its own timeout.
   */
  start(signal?: AbortSignal): Promise<void>;
  /** Undoes start(), also after a start() that failed part-way. */
  stop(): Promise<void>;
}
