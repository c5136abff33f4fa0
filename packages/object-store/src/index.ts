export * from './config.js';
export * from './errors.js';
export { objectKey, keyPrefix } from './keys.js';
export * from './object-store.js';
export * from './part-size.js';
export type { PutOptions, PutResult } from './put.js';
export type { ByteSource } from './read-source.js';
