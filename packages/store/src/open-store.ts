import type { MongoStoreOptions } from './mongo/mongo-store.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** When set, the MongoDB store; the SQLite file is then unused. */
  mongodbUri?: string;
  sqlitePath: string;
  /** SQLite only: a background WAL checkpoint failed (see openSqliteStore). */
  onCheckpointError?: (message: string) => void;
}

/** MongoDB when a URI is configured, else the zero-setup SQLite file. */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  return opts.mongodbUri ? openMongoStore(opts.mongodbUri) : openSqliteStore(opts.sqlitePath, opts.onCheckpointError);
}

/**
 * The MongoDB store. mongoose and its driver are loaded on first use: they
 * add ~15 MiB to the heap of every process that imports the store, and each
 * full garbage collection (frequent while outputs stream through storage)
 * has to mark all of it, though SQLite deployments never call them.
 */
export async function openMongoStore(uri: string, opts?: MongoStoreOptions): Promise<Store> {
  const mongo = await import('./mongo/mongo-store.js');
  return mongo.openMongoStore(uri, opts);
}
