import type { StorageServiceImplementation } from '@cloudai/proto';
import { ServerError, Status } from 'nice-grpc';

/**
 * The storage API. Receiving, listing and serving output files is the
 * outputs issue's work (issue 4); until then every file call says so
 * plainly instead of pretending to succeed.
 */
export function storageService(): StorageServiceImplementation {
  const unavailable = (what: string) =>
    new ServerError(Status.UNIMPLEMENTED, `${what} is not available in this version of cloudai storage (issue 4)`);
  return {
    async uploadOutputs() {
      throw unavailable('uploading outputs');
    },
    async listFiles() {
      throw unavailable('listing files');
    },
    // eslint-disable-next-line require-yield
    async *downloadFiles() {
      throw unavailable('downloading files');
    },
    async deleteFiles() {
      throw unavailable('deleting files');
    },
  };
}
