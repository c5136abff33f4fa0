export * from './service.js';
export * from './run-service.js';
