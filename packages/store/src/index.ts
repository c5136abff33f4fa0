export type * from './records.js';
export type { Store } from './store.js';
export { openSqliteStore } from './sqlite/sqlite-store.js';
export { openMongoStore } from './mongo/mongo-store.js';
export { openStore } from './open-store.js';
