export * from './errors.js';
export * from './server.js';
import { installInPlaceFraming } from './in-place-framing.js';
export { inPlaceFramed } from './in-place-framing.js';
// Before any client or server is made: they take their serializers when
// made. The apps (which send bulk chunks) import this entry; the CLI's
// `@cloudai/rpc/client` does not, and receives only.
installInPlaceFraming();
export * from './tls.js';
export * from './chunk-release.js';
export * from './young-collector.js';
export * from './receive-readahead.js';
export * from './response-readahead.js';
export * from './send-queue.js';
export * from './plaintext-policy.js';
export * from './server-errors.js';
export * from './server-metrics.js';
export * from './client.js';
export * from './client-errors.js';
export * from './retry.js';
export * from './replicas.js';
export * from './convert.js';
export * from './json-views.js';
export * from './answered-by.js';
// The address a container's own health probe dials; the web image's HTTP probe needs it too.
export { healthCheckTarget } from './health-check.js';
