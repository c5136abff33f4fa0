// The generated files each declare the same small helper types; re-export
// the services' files explicitly so the names do not clash.
export * from './gen/cloudai/v1/types.js';
export * from './gen/cloudai/v1/master.js';
export * from './gen/cloudai/v1/cluster.js';
export * from './gen/cloudai/v1/scheduler.js';
export * from './gen/cloudai/v1/worker.js';
export * from './gen/cloudai/v1/identity.js';
export {
  Event,
  EventFilter,
  EventServiceDefinition,
  FollowEventsRequest,
  FollowEventsResponse,
  ListEventsRequest,
  ListEventsResponse,
  type EventServiceClient,
  type EventServiceImplementation,
} from './gen/cloudai/v1/events.js';
export {
  UploadHeader,
  UploadOutputsRequest,
  UploadOutputsResponse,
  type StorageServiceClient,
  type StorageServiceImplementation,
} from './gen/cloudai/v1/storage.js';
// The service definitions that carry bulk bytes are the generated ones with
// a faster encoder for data chunks (see bulk-bytes.ts). These explicit
// exports take precedence over the generated names re-exported above.
export {
  StorageServiceDefinition,
  encodeBytesField,
  allocWithFrameRoom,
  frameInPlace,
  isShared,
  FRAME_ROOM_BYTES,
} from './bulk-bytes.js';
// The log path's large messages, encoded in one buffer (see log-messages.ts).
export { ClusterServiceDefinition, TaskServiceDefinition, encodeAppendLogsRequest, encodeStreamLogsResponse } from './log-messages.js';
