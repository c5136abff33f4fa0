/** A long-lived component: an app's composition root. */
export interface Service {
  start(): Promise<void>;
  /** Undoes start(), also after a start() that failed part-way. */
  stop(): Promise<void>;
}
