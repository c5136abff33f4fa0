import type { Store } from '../store.js';

/** What each part of the contract runs against. */
export interface ContractSubject {
  /** the suite's store, cleared before each test */
  readonly store: Store;
  /** Another store over the same database, as a second master process would have; closed after the suite. */
  second(): Promise<Store>;
}
