import { openMongoStore } from './mongo/mongo-store.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** When set, the MongoDB store; the SQLite file is then unused. */
  mongodbUri?: string;
  sqlitePath: string;
}

/** MongoDB when a URI is configured, else the zero-setup SQLite file. */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  return opts.mongodbUri ? openMongoStore(opts.mongodbUri) : openSqliteStore(opts.sqlitePath);
}
