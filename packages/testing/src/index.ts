export * from './ferretdb.js';
export * from './required-tool.js';
export * from './grpcurl.js';
export * from './docker.js';
export * from './temp.js';
export * from './cluster.js';
export * from './repo-root.js';
export * from './tls.js';
