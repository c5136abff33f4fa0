// The generated files each declare the same small helper types; re-export
// the services' files explicitly so the names do not clash.
export * from './gen/cloudai/v1/types.js';
export * from './gen/cloudai/v1/master.js';
export * from './gen/cloudai/v1/cluster.js';
export * from './gen/cloudai/v1/scheduler.js';
export * from './gen/cloudai/v1/worker.js';
export {
  StorageServiceDefinition,
  UploadHeader,
  UploadOutputsRequest,
  UploadOutputsResponse,
  type StorageServiceClient,
  type StorageServiceImplementation,
} from './gen/cloudai/v1/storage.js';
