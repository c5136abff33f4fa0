export { Registry } from 'prom-client';
export * from './registry.js';
export * from './metrics-server.js';
export * from './serve-metrics.js';
export * from './cached-read.js';
export * from './bearer.js';
