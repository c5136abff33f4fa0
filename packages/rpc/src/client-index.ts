// `@cloudai/rpc/client`: the half of this package a client needs (calls,
// deadlines, retries, the error classifier, TLS, proto↔domain), without the
// server's reflection, health, metrics and flow-control patch. The CLI's
// bundle is built from it, so a `cloudai` start evaluates none of those.
export * from './errors.js';
export * from './tls.js';
export * from './chunk-release.js';
export * from './young-collector.js';
export * from './response-readahead.js';
export * from './client.js';
export * from './client-errors.js';
export * from './retry.js';
export * from './convert.js';
export * from './json-views.js';
export * from './task-sort.js';
