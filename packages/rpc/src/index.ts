export * from './errors.js';
export * from './server.js';
export * from './tls.js';
export * from './plaintext-policy.js';
export * from './server-errors.js';
export * from './server-metrics.js';
export * from './client.js';
export * from './client-errors.js';
export * from './retry.js';
export * from './convert.js';
export * from './json-views.js';
export * from './answered-by.js';
// The address a container's own health probe dials; the web image's HTTP probe needs it too.
export { healthCheckTarget } from './health-check.js';
