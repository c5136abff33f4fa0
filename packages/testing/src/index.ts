export * from './ferretdb.js';
export * from './docker.js';
export * from './temp.js';
export * from './cluster.js';
export * from './repo-root.js';
export * from './tls.js';
export * from './metrics.js';
