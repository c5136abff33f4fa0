// Encoders for the messages that carry bulk data: upload and download
// chunks of up to 1 MiB, sent by the thousand. The generated encoder writes
// through a generic BinaryWriter that grows a zero-filled buffer by doubling
// and then slices it: one 1 MiB chunk cost a 2 MiB allocation and two copies,
// which showed as the largest share of the worker's CPU in profiles of a
// 1 GiB upload. A data-only message is just tag, length and the bytes, so it
// is written here in one exactly-sized allocation. Every other message (the
// headers) still goes through the generated code, and decoding is unchanged
// (it already returns a view of the received bytes, not a copy).
import type { BinaryWriter } from '@bufbuild/protobuf/wire';
import {
  DownloadFilesResponse,
  TaskServiceDefinition as GeneratedTaskServiceDefinition,
} from './gen/cloudai/v1/master.js';
import {
  StorageServiceDefinition as GeneratedStorageServiceDefinition,
  UploadOutputsRequest,
} from './gen/cloudai/v1/storage.js';

/** The protobuf encoding of a message whose only field is bytes field `fieldNumber` (1..15). */
export function encodeBytesField(fieldNumber: number, data: Uint8Array): Buffer {
  if (!Number.isInteger(fieldNumber) || fieldNumber < 1 || fieldNumber > 15) {
    throw new RangeError(`field number must be 1..15 for a one-byte tag, got ${fieldNumber}`);
  }
  let length = data.length;
  let lengthBytes = 1;
  for (let v = length; v > 0x7f; v >>>= 7) lengthBytes++;
  const out = Buffer.allocUnsafe(1 + lengthBytes + length);
  let pos = 0;
  out[pos++] = (fieldNumber << 3) | 2; // wire type 2: length-delimited
  while (length > 0x7f) {
    out[pos++] = (length & 0x7f) | 0x80;
    length >>>= 7;
  }
  out[pos++] = length;
  out.set(data, pos);
  return out;
}

interface Encodable<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/**
 * `type` with an encoder that writes `{ [key]: bytes }` messages directly.
 * nice-grpc serializes with `encode(message).finish()`, so the fast path
 * answers with a finished buffer; a caller passing its own writer (a parent
 * message) gets the generated encoder.
 */
function withBytesFastPath<T extends object, F extends Encodable<T>>(
  type: F & Encodable<T>,
  key: keyof T & string,
  fieldNumber: number,
): F {
  return {
    ...type,
    encode(message: T, writer?: BinaryWriter): BinaryWriter {
      const data = message[key];
      const dataOnly = data instanceof Uint8Array && Object.keys(message).every((k) => k === key || message[k as keyof T] === undefined);
      if (writer || !dataOnly) return type.encode(message, writer);
      const encoded = encodeBytesField(fieldNumber, data);
      return { finish: () => encoded } as unknown as BinaryWriter;
    },
  };
}

const uploadRequest = withBytesFastPath(UploadOutputsRequest, 'data', 2);
const downloadResponse = withBytesFastPath(DownloadFilesResponse, 'data', 2);

/** The generated StorageService definition, with upload and download chunks on the fast path. */
export const StorageServiceDefinition: typeof GeneratedStorageServiceDefinition = {
  ...GeneratedStorageServiceDefinition,
  methods: {
    ...GeneratedStorageServiceDefinition.methods,
    uploadOutputs: { ...GeneratedStorageServiceDefinition.methods.uploadOutputs, requestType: uploadRequest },
    downloadFiles: { ...GeneratedStorageServiceDefinition.methods.downloadFiles, responseType: downloadResponse },
  },
};

/** The generated TaskService definition, with download chunks on the fast path. */
export const TaskServiceDefinition: typeof GeneratedTaskServiceDefinition = {
  ...GeneratedTaskServiceDefinition,
  methods: {
    ...GeneratedTaskServiceDefinition.methods,
    downloadFiles: { ...GeneratedTaskServiceDefinition.methods.downloadFiles, responseType: downloadResponse },
  },
};
