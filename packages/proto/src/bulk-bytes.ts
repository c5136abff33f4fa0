// Encoders for the messages that carry bulk data: upload and download
// chunks of up to 1 MiB, sent by the thousand. The generated encoder writes
// through a generic BinaryWriter that grows a zero-filled buffer by doubling
// and then slices it: one 1 MiB chunk cost a 2 MiB allocation and two copies,
// which showed as the largest share of the worker's CPU in profiles of a
// 1 GiB upload. A data-only message is just tag, length and the bytes, so it
// is written here in one exactly-sized allocation. Every other message (the
// headers) still goes through the generated code. Decoding a data-only
// message likewise returns a view of the received bytes: the generated
// decoder copies them (Buffer.from of the reader's view).
//
// A chunk allocated with `allocWithFrameRoom` has spare bytes in front of
// it: its tag and length are written there and the message is a view of
// the same memory, and `frameInPlace` (which packages/rpc plugs into
// grpc-js) writes gRPC's 5-byte message prefix in front of that, so the
// bytes read from a file are the bytes handed to HTTP/2, copied nowhere.
import type { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import {
  DownloadFilesResponse,
  TaskServiceDefinition as GeneratedTaskServiceDefinition,
} from './gen/cloudai/v1/master.js';
import {
  StorageServiceDefinition as GeneratedStorageServiceDefinition,
  UploadOutputsRequest,
} from './gen/cloudai/v1/storage.js';

/** gRPC's prefix of every message on the wire: a compressed flag and a 4-byte length. */
const GRPC_PREFIX_BYTES = 5;
/** Room kept in front of a chunk: gRPC's prefix, a one-byte tag and a varint length of up to 5 bytes. */
export const FRAME_ROOM_BYTES = 16;

/**
 * Where, in each ArrayBuffer this module allocated, spare room ends: the
 * offset at which a chunk (`room.data`) or an encoded message with room for
 * gRPC's prefix in front of it (`room.message`) may start. Only views that
 * start exactly there may use the bytes before them, so a subarray from
 * elsewhere, or a buffer from anywhere else, is always copied.
 */
const rooms = new WeakMap<ArrayBufferLike, { start: number; data: number; message?: number }>();

/**
 * A buffer of `size` bytes (contents unset, like Buffer.allocUnsafe) with
 * FRAME_ROOM_BYTES of room in front of it, so that a data message holding
 * it, or a subarray of it from its first byte, is encoded and framed in
 * place. The room is written to when it is encoded: the buffer must not be
 * encoded as two different messages at once.
 */
export function allocWithFrameRoom(size: number): Buffer {
  const whole = Buffer.allocUnsafeSlow(FRAME_ROOM_BYTES + size);
  rooms.set(whole.buffer, { start: whole.byteOffset, data: whole.byteOffset + FRAME_ROOM_BYTES });
  return whole.subarray(FRAME_ROOM_BYTES);
}

/**
 * A buffer of `size` bytes (contents unset) for a message encoded by hand,
 * with room for gRPC's prefix in front of it, so that it is framed in place.
 */
export function allocMessage(size: number): Buffer {
  const whole = Buffer.allocUnsafeSlow(GRPC_PREFIX_BYTES + size);
  const out = whole.subarray(GRPC_PREFIX_BYTES);
  rooms.set(whole.buffer, { start: whole.byteOffset, data: -1, message: out.byteOffset });
  return out;
}

/** The protobuf encoding of a message whose only field is bytes field `fieldNumber` (1..15). */
export function encodeBytesField(fieldNumber: number, data: Uint8Array): Buffer {
  if (!Number.isInteger(fieldNumber) || fieldNumber < 1 || fieldNumber > 15) {
    throw new RangeError(`field number must be 1..15 for a one-byte tag, got ${fieldNumber}`);
  }
  let lengthBytes = 1;
  for (let v = data.length; v > 0x7f; v >>>= 7) lengthBytes++;
  const prefix = 1 + lengthBytes;
  const room = rooms.get(data.buffer);
  if (room && room.data === data.byteOffset) {
    // In place: tag and length go into the room in front of the data.
    const start = data.byteOffset - prefix;
    const out = Buffer.from(data.buffer, start, prefix + data.length);
    writePrefix(out, fieldNumber, data.length);
    room.message = start;
    return out;
  }
  // A copy, into a buffer with room for gRPC's prefix in front of it.
  const whole = Buffer.allocUnsafeSlow(GRPC_PREFIX_BYTES + prefix + data.length);
  const out = whole.subarray(GRPC_PREFIX_BYTES);
  writePrefix(out, fieldNumber, data.length);
  out.set(data, prefix);
  rooms.set(whole.buffer, { start: whole.byteOffset, data: -1, message: out.byteOffset });
  return out;
}

function writePrefix(out: Buffer, fieldNumber: number, length: number): void {
  let pos = 0;
  out[pos++] = (fieldNumber << 3) | 2; // wire type 2: length-delimited
  while (length > 0x7f) {
    out[pos++] = (length & 0x7f) | 0x80;
    length >>>= 7;
  }
  out[pos] = length;
}

/**
 * Buffers holding a message that more than one call sends (the log entries
 * one encoding serves to every follower, see log-messages.ts). A sender
 * releases a frame once HTTP/2 has written it (packages/rpc
 * chunk-release.ts); one of these must outlive every send, so it is never
 * released and is left to the collector.
 */
const sharedMessages = new WeakSet<ArrayBufferLike>();

/** Marks `message`'s buffer as sent by several calls: never released after one send. */
export function markShared(message: Uint8Array): void {
  sharedMessages.add(message.buffer);
}

/** Whether `bytes` views a buffer that markShared marked. */
export function isShared(bytes: Uint8Array): boolean {
  return sharedMessages.has(bytes.buffer);
}

/**
 * `message` (an encoded message) framed for gRPC: the 5-byte prefix
 * (uncompressed, length) written into the room in front of it and the
 * frame returned as a view of the same memory; undefined when `message`
 * has no such room (the caller copies it into a new frame).
 */
export function frameInPlace(message: Uint8Array): Buffer | undefined {
  const room = rooms.get(message.buffer);
  if (!room || room.message !== message.byteOffset || message.byteOffset - room.start < GRPC_PREFIX_BYTES) return undefined;
  const frame = Buffer.from(message.buffer, message.byteOffset - GRPC_PREFIX_BYTES, GRPC_PREFIX_BYTES + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  return frame;
}

interface Encodable<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): T;
}

/**
 * The bytes of field `fieldNumber` when `input` is exactly one such
 * length-delimited field and nothing else, as a view of `input`; undefined
 * for any other message (which the generated decoder then reads).
 */
export function bytesFieldView(fieldNumber: number, input: Uint8Array): Buffer | undefined {
  if (input.length < 2 || input[0] !== ((fieldNumber << 3) | 2)) return undefined;
  let length = 0;
  let pos = 1;
  for (let shift = 0; ; shift += 7) {
    // A length of up to 5 varint bytes; anything longer is not ours to judge.
    if (pos >= input.length || shift > 28) return undefined;
    const b = input[pos++]!;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (pos + length !== input.length) return undefined;
  return Buffer.from(input.buffer, input.byteOffset + pos, length);
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
    decode(input: BinaryReader | Uint8Array, length?: number): T {
      const data = input instanceof Uint8Array && length === undefined ? bytesFieldView(fieldNumber, input) : undefined;
      if (!data) return type.decode(input, length);
      // The generated decoder's shape: every field present, unset ones undefined.
      const message = type.decode(new Uint8Array(0));
      (message as Record<string, unknown>)[key] = data;
      return message;
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
