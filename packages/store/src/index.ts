export type * from './records.js';
export { logPosition, NEWEST_FIRST, TASK_SORT_KEYS } from './records.js';
export type { FileMetadataStore, IdentityStore, Store } from './store.js';
export { newTaskRecord, type NewTaskRecord } from './new-task-record.js';
export { openSqliteStore } from './sqlite/sqlite-store.js';
export type { MongoStoreOptions } from './mongo/mongo-store.js';
export { openMongoStore, openStore, type OpenStoreOptions } from './open-store.js';
export { KeyedMutex } from './mongo/keyed-mutex.js';
