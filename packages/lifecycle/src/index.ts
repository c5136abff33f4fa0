export * from './service.js';
export * from './run-service.js';
export * from './parent-pipe.js';
