import { describe, expect, it } from 'vitest';
import { encodeBytesField, StorageServiceDefinition, TaskServiceDefinition } from './index.js';
import { DownloadFilesResponse as GeneratedDownload } from './gen/cloudai/v1/master.js';
import { UploadOutputsRequest as GeneratedUpload } from './gen/cloudai/v1/storage.js';

const uploadType = StorageServiceDefinition.methods.uploadOutputs.requestType;
const downloadTypes = [
  StorageServiceDefinition.methods.downloadFiles.responseType,
  TaskServiceDefinition.methods.downloadFiles.responseType,
];

// Sizes around each varint length boundary, up to the 1 MiB chunk bound.
const SIZES = [0, 1, 127, 128, 16_383, 16_384, 65_536, 1024 * 1024];

function bytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

describe('bulk bytes fast path', () => {
  it.each(SIZES)('encodes a %i-byte upload chunk exactly as the generated encoder does', (n) => {
    const data = bytes(n);
    // nice-grpc serializes fromPartial(message), then encode(...).finish()
    const fast = uploadType.encode(uploadType.fromPartial({ data })).finish();
    const generated = GeneratedUpload.encode({ data }).finish();
    expect(Buffer.from(fast).equals(Buffer.from(generated))).toBe(true);
    expect(Buffer.from(GeneratedUpload.decode(fast).data!).equals(data)).toBe(true);
  });

  it.each(SIZES)('encodes a %i-byte download chunk exactly as the generated encoder does', (n) => {
    const data = bytes(n);
    const generated = GeneratedDownload.encode({ data }).finish();
    for (const type of downloadTypes) {
      const fast = type.encode(type.fromPartial({ data })).finish();
      expect(Buffer.from(fast).equals(Buffer.from(generated))).toBe(true);
    }
  });

  it('leaves header messages to the generated encoder', () => {
    const header = { grant: 'cag_claims.signature' };
    const encoded = uploadType.encode(uploadType.fromPartial({ header })).finish();
    expect(GeneratedUpload.decode(encoded).header).toEqual(header);
    const file = { path: 'a/b.txt', size: 3, sha256: 'ab'.repeat(32) };
    const encodedFile = downloadTypes[0]!.encode({ file }).finish();
    expect(GeneratedDownload.decode(encodedFile).file).toEqual(file);
  });

  it('refuses a field number that needs a multi-byte tag', () => {
    expect(() => encodeBytesField(16, Buffer.alloc(1))).toThrow(/field number/);
    expect(() => encodeBytesField(0, Buffer.alloc(1))).toThrow(/field number/);
  });
});
