// Encoders for the log path's large messages: a worker's AppendLogs batch
// (up to 1 MiB of chunks) and each StreamLogs entry sent to a follower (a
// chunk of up to 256 KiB). The generated encoder writes through a
// BinaryWriter that grows a buffer by doubling and slices it at the end:
// several allocations and copies of every byte, the worker's largest source
// of garbage in profiles of a log burst, and per follower on the master.
// Here a message is written into one exactly-sized buffer, with room for
// gRPC's prefix in front so it is framed in place (see bulk-bytes.ts): the
// small fields through the generated encoders, each chunk's data copied
// once. Protobuf fields may come in any order, so a chunk's data field is
// written after its other fields. Decoding stays generated: its bytes are
// views of the received message already.
import type { BinaryWriter } from '@bufbuild/protobuf/wire';
import { allocMessage, markShared, TaskServiceDefinition as BulkTaskServiceDefinition } from './bulk-bytes.js';
import { AppendLogsRequest, ClusterServiceDefinition as GeneratedClusterServiceDefinition } from './gen/cloudai/v1/cluster.js';
import { LogEntry, StreamLogsResponse } from './gen/cloudai/v1/master.js';
import { LogChunk } from './gen/cloudai/v1/types.js';

const EMPTY = Buffer.alloc(0);
/** Tags of the length-delimited fields written here: field number << 3 | 2. */
const CHUNKS_TAG = (3 << 3) | 2; // AppendLogsRequest.chunks
const DATA_TAG = (4 << 3) | 2; // LogChunk.data
const CHUNK_TAG = (2 << 3) | 2; // LogEntry.chunk
const ENTRY_TAG = (1 << 3) | 2; // StreamLogsResponse.entry

function varintSize(n: number): number {
  let size = 1;
  for (; n > 0x7f; n = Math.floor(n / 128)) size++;
  return size;
}

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  for (; n > 0x7f; n = Math.floor(n / 128)) out[pos++] = (n & 0x7f) | 0x80;
  out[pos++] = n;
  return pos;
}

/** A length-delimited field's size: tag, length and content. */
const fieldSize = (length: number) => 1 + varintSize(length) + length;

/** A chunk's fields but its data, encoded, and the size of the whole chunk. */
function chunkParts(chunk: LogChunk): { meta: Uint8Array; size: number } {
  const meta = LogChunk.encode({ ...chunk, data: EMPTY }).finish();
  return { meta, size: meta.length + (chunk.data.length > 0 ? fieldSize(chunk.data.length) : 0) };
}

/** Writes a chunk (its parts from chunkParts) at `pos`; returns where it ends. */
function writeChunk(out: Uint8Array, pos: number, chunk: LogChunk, meta: Uint8Array): number {
  out.set(meta, pos);
  pos += meta.length;
  if (chunk.data.length === 0) return pos;
  out[pos++] = DATA_TAG;
  pos = writeVarint(out, pos, chunk.data.length);
  out.set(chunk.data, pos);
  return pos + chunk.data.length;
}

/** The encoding of an AppendLogsRequest, identical in meaning to the generated one's, in one buffer. */
export function encodeAppendLogsRequest(request: AppendLogsRequest): Buffer {
  const head = AppendLogsRequest.encode({ ...request, chunks: [] }).finish();
  const parts = request.chunks.map(chunkParts);
  const size = parts.reduce((sum, p) => sum + fieldSize(p.size), head.length);
  const out = allocMessage(size);
  out.set(head, 0);
  let pos = head.length;
  request.chunks.forEach((chunk, i) => {
    const { meta, size: chunkSize } = parts[i]!;
    out[pos++] = CHUNKS_TAG;
    pos = writeVarint(out, pos, chunkSize);
    pos = writeChunk(out, pos, chunk, meta);
  });
  return out;
}

/**
 * Entries encoded lately, by their chunk's data: the followers of one log
 * are sent the same chunks (the master shares the pages it reads among
 * them), and one encoding of each serves them all, rather than one copy per
 * follower held in each stream's send queue. An encoding is marked shared
 * (bulk-bytes.ts) once a second stream takes it, so that no stream releases
 * it after its own write; a lone follower's is released as soon as written.
 */
const encodedEntries = new WeakMap<Uint8Array, { entry: LogEntry; bytes: Uint8Array }>();

function sameEntry(a: LogEntry, b: LogEntry): boolean {
  const x = a.chunk!;
  const y = b.chunk!;
  return (
    a.position === b.position &&
    a.attempt === b.attempt &&
    a.marker === b.marker &&
    x.seq === y.seq &&
    x.stream === y.stream &&
    x.marker === y.marker &&
    x.ts?.getTime() === y.ts?.getTime()
  );
}

/** The encoding of a StreamLogsResponse, in one buffer when it is an entry with a chunk. */
export function encodeStreamLogsResponse(response: StreamLogsResponse): Uint8Array {
  const entry = response.entry;
  const chunk = entry?.chunk;
  if (!entry || !chunk || response.outcome !== undefined) return StreamLogsResponse.encode(response).finish();
  const known = encodedEntries.get(chunk.data);
  // A lone follower's stream releases its entry once written (an empty view
  // then): a follower that comes after that gets a new encoding.
  if (known && known.bytes.byteLength > 0 && sameEntry(known.entry, entry)) {
    // A second stream sends these very bytes: from now on none may release them after its own write.
    markShared(known.bytes);
    return known.bytes;
  }
  const bytes = encodeEntry(entry, chunk);
  if (chunk.data.length > 0) encodedEntries.set(chunk.data, { entry, bytes });
  return bytes;
}

function encodeEntry(entry: LogEntry, chunk: LogChunk): Uint8Array {
  const meta = LogEntry.encode({ ...entry, chunk: undefined }).finish();
  const parts = chunkParts(chunk);
  const entrySize = meta.length + fieldSize(parts.size);
  const out = allocMessage(fieldSize(entrySize));
  out[0] = ENTRY_TAG;
  let pos = writeVarint(out, 1, entrySize);
  out.set(meta, pos);
  pos += meta.length;
  out[pos++] = CHUNK_TAG;
  pos = writeVarint(out, pos, parts.size);
  writeChunk(out, pos, chunk, parts.meta);
  return out;
}

/** `type` with `encode` answered by `encode`, as nice-grpc calls it (`encode(message).finish()`); a parent's writer gets the generated one. */
function encodedBy<T, F extends { encode(message: T, writer?: BinaryWriter): BinaryWriter }>(type: F, encode: (message: T) => Uint8Array): F {
  return {
    ...type,
    encode(message: T, writer?: BinaryWriter): BinaryWriter {
      if (writer) return type.encode(message, writer);
      const bytes = encode(message);
      return { finish: () => bytes } as unknown as BinaryWriter;
    },
  };
}

/** The generated ClusterService definition, with AppendLogs requests encoded in one buffer. */
export const ClusterServiceDefinition: typeof GeneratedClusterServiceDefinition = {
  ...GeneratedClusterServiceDefinition,
  methods: {
    ...GeneratedClusterServiceDefinition.methods,
    appendLogs: {
      ...GeneratedClusterServiceDefinition.methods.appendLogs,
      requestType: encodedBy(AppendLogsRequest, encodeAppendLogsRequest),
    },
  },
};

/** TaskService's definition (download chunks on bulk-bytes' fast path), with StreamLogs entries encoded in one buffer. */
export const TaskServiceDefinition: typeof BulkTaskServiceDefinition = {
  ...BulkTaskServiceDefinition,
  methods: {
    ...BulkTaskServiceDefinition.methods,
    streamLogs: {
      ...BulkTaskServiceDefinition.methods.streamLogs,
      responseType: encodedBy(StreamLogsResponse, encodeStreamLogsResponse),
    },
  },
};
