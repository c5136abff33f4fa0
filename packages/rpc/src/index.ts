export * from './errors.js';
export * from './server.js';
export * from './server-errors.js';
export * from './client.js';
export * from './client-errors.js';
export * from './retry.js';
export * from './convert.js';
export * from './answered-by.js';
