import { describe, expect, it } from 'vitest';
import { allocWithFrameRoom, encodeBytesField, frameInPlace, StorageServiceDefinition, TaskServiceDefinition } from './index.js';
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

  it.each(SIZES)('encodes a %i-byte chunk with room in place, as the generated encoder does', (n) => {
    const data = allocWithFrameRoom(n);
    bytes(n).copy(data);
    const fast = uploadType.encode(uploadType.fromPartial({ data })).finish();
    expect(Buffer.from(fast).equals(Buffer.from(GeneratedUpload.encode({ data }).finish()))).toBe(true);
    // The same memory: the tag and length went into the room in front.
    expect(fast.buffer).toBe(data.buffer);
    // So did gRPC's prefix: flag 0, then the message's length.
    const frame = frameInPlace(fast)!;
    expect(frame.buffer).toBe(data.buffer);
    expect(frame.readUInt8(0)).toBe(0);
    expect(frame.readUInt32BE(1)).toBe(fast.length);
    expect(frame.subarray(5).equals(Buffer.from(fast))).toBe(true);
  });

  it('encodes the first bytes of a chunk with room in place too, but copies from anywhere else in it', () => {
    const data = allocWithFrameRoom(4096);
    bytes(4096).copy(data);
    const head = encodeBytesField(2, data.subarray(0, 100));
    expect(head.buffer).toBe(data.buffer);
    const middle = encodeBytesField(2, data.subarray(100, 200));
    expect(middle.buffer).not.toBe(data.buffer);
    expect(Buffer.from(GeneratedUpload.decode(middle).data!).equals(data.subarray(100, 200))).toBe(true);
  });

  it('frames a copied chunk in place, and nothing else', () => {
    const copied = encodeBytesField(2, bytes(1000));
    expect(frameInPlace(copied)?.readUInt32BE(1)).toBe(copied.length);
    expect(frameInPlace(Buffer.alloc(100))).toBeUndefined();
    expect(frameInPlace(copied.subarray(1))).toBeUndefined();
  });

  it.each(SIZES)('decodes a %i-byte data message as a view, as the generated decoder does', (n) => {
    const encoded = Buffer.from(GeneratedUpload.encode({ data: bytes(n) }).finish());
    for (const type of [uploadType, ...downloadTypes]) {
      const decoded = type.decode(encoded) as { data?: Uint8Array };
      expect(decoded).toEqual({ ...GeneratedUpload.decode(new Uint8Array(0)), ...type.decode(new Uint8Array(0)), data: bytes(n) });
      expect(decoded.data!.buffer).toBe(encoded.buffer);
    }
  });

  it('decodes anything but a lone data field with the generated decoder', () => {
    const header = Buffer.from(GeneratedUpload.encode({ header: { grant: 'g' } }).finish());
    expect(uploadType.decode(header)).toEqual(GeneratedUpload.decode(header));
    // A data field followed by another field (or trailing bytes) is not the fast path's.
    const both = Buffer.concat([Buffer.from(GeneratedUpload.encode({ data: bytes(10) }).finish()), header]);
    expect(uploadType.decode(both)).toEqual(GeneratedUpload.decode(both));
    const truncated = Buffer.from(GeneratedUpload.encode({ data: bytes(200) }).finish()).subarray(0, 100);
    expect(() => uploadType.decode(truncated)).toThrow();
  });
});
