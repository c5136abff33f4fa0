import { frameInPlace } from '@cloudai/proto';
import { createRequire } from 'node:module';
import { releaseChunk } from './chunk-release.js';

/**
 * On its way out, every message is copied twice beyond its encoding:
 * nice-grpc turns the encoder's bytes into a Buffer with Buffer.from (a
 * copy, even of a Buffer), and grpc-js frames it by allocating a new buffer
 * of its length + 5 and copying it in. For the 1 MiB chunks of uploads and
 * downloads that is two more allocations and copies of every byte, and
 * garbage the collector must chase (the largest share of the worker's CPU
 * in profiles of a 1 GiB upload). So nice-grpc's conversion takes a view
 * of the bytes instead, and chunks that @cloudai/proto encoded with room in
 * front of them (see `allocWithFrameRoom`) are framed in that room; every
 * other message is framed by copying, as grpc-js does. Replaced, since no
 * API exposes them:
 * - nice-grpc's `toGrpcJsMethodDefinition` and `toGrpcJsServiceDefinition`
 *   (what clients and servers made after this runs use), wrapped so their
 *   serializers return a view;
 * - `IdentityHandler.prototype.writeMessage` frames what a client sends
 *   (uploads; grpc-js frames every uncompressed client message with it);
 * - `BaseServerInterceptingCall.prototype.serializeMessage` serializes and
 *   frames what a server sends (downloads, and their relay by the master).
 * If an upgrade moves them this throws rather than silently copying again;
 * `inPlaceFramed()` counts the messages framed in place, which the tests
 * check through a real server and client.
 *
 * Once HTTP/2 has written a frame made here, nothing holds it any more (the
 * chunk it views was handed over with the message), so its memory is
 * released at once (see chunk-release.ts) rather than left to the collector:
 * - `BaseServerInterceptingCall.prototype.sendMessage` is wrapped to release
 *   what its serializer framed when the write succeeds;
 * - `Http2SubchannelCall.prototype.sendMessageWithContext` likewise, for a
 *   client's frames, but only those larger than grpc-js's per-call retry
 *   buffer: a smaller message may be kept for a transparent retry and sent
 *   again, while a larger one commits the call to its one attempt.
 * Sending a chunk therefore hands it over: the sender must not read it after.
 */
let installed = false;
let framedInPlace = 0;
/** Frames made here: their memory is the message's alone once written. */
const ownFrames = new WeakSet<Buffer>();
/** The last frame made by a server's serializer, picked up by the sendMessage that asked for it. */
let lastServerFrame: Buffer | undefined;
/**
 * grpc-js's default `grpc.per_rpc_retry_buffer_size` (1 MiB): client
 * messages up to this size may be buffered for a retry. No channel of ours
 * raises it.
 */
const RETRY_BUFFER_BYTES = 1024 * 1024;

/** How many messages this process has framed in place. */
export function inPlaceFramed(): number {
  return framedInPlace;
}

function framed(message: Buffer): Buffer {
  const inPlace = frameInPlace(message);
  if (inPlace) {
    framedInPlace++;
    ownFrames.add(inPlace);
    return inPlace;
  }
  const output = Buffer.allocUnsafe(message.length + 5);
  output.writeUInt8(0, 0);
  output.writeUInt32BE(message.length, 1);
  message.copy(output, 5);
  ownFrames.add(output);
  return output;
}

type Serialize = (value: unknown) => Uint8Array;
interface GrpcJsMethod {
  requestSerialize: Serialize;
  responseSerialize: Serialize;
}

/** The bytes as a Buffer without copying them. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** grpc-js's method definition from nice-grpc's, with serializers that return views. */
function viewing<M extends GrpcJsMethod>(method: M, definition: { requestSerialize: Serialize; responseSerialize: Serialize }): M {
  return {
    ...method,
    requestSerialize: (value: unknown) => asBuffer(definition.requestSerialize(value)),
    responseSerialize: (value: unknown) => asBuffer(definition.responseSerialize(value)),
  };
}

export function installInPlaceFraming(): void {
  if (installed) return;
  const niceRequire = createRequire(createRequire(import.meta.url).resolve('nice-grpc'));
  const definitions = niceRequire('./service-definitions/index.js') as Record<string, unknown>;
  const toMethod = definitions.toGrpcJsMethodDefinition as ((d: never) => GrpcJsMethod) | undefined;
  const toService = definitions.toGrpcJsServiceDefinition as ((d: never) => Record<string, GrpcJsMethod>) | undefined;
  // The grpc-js that nice-grpc uses, whichever copy that is.
  const require = createRequire(niceRequire.resolve('@grpc/grpc-js'));
  const compression = require('./compression-filter.js') as {
    CompressionFilter?: new (options: object, shared: object) => { sendCompression?: object };
  };
  const interceptors = require('./server-interceptors.js') as {
    BaseServerInterceptingCall?: { prototype: Record<string, unknown> };
  };
  const subchannelCalls = require('./subchannel-call.js') as {
    Http2SubchannelCall?: { prototype: Record<string, unknown> };
  };
  const identity = compression.CompressionFilter && Object.getPrototypeOf(new compression.CompressionFilter({}, {}).sendCompression ?? {});
  const server = interceptors.BaseServerInterceptingCall?.prototype;
  const subchannelCall = subchannelCalls.Http2SubchannelCall?.prototype;
  if (typeof toMethod !== 'function' || typeof toService !== 'function') {
    throw new Error(
      'nice-grpc internals changed: toGrpcJsMethodDefinition or toGrpcJsServiceDefinition is gone; ' +
        'update packages/rpc/src/in-place-framing.ts for this nice-grpc version',
    );
  }
  if (
    identity?.constructor?.name !== 'IdentityHandler' ||
    typeof identity.writeMessage !== 'function' ||
    typeof server?.serializeMessage !== 'function' ||
    typeof server.sendMessage !== 'function' ||
    typeof subchannelCall?.sendMessageWithContext !== 'function'
  ) {
    throw new Error(
      'grpc-js internals changed: IdentityHandler.writeMessage, BaseServerInterceptingCall.serializeMessage or sendMessage, ' +
        'or Http2SubchannelCall.sendMessageWithContext is gone; ' +
        'update packages/rpc/src/in-place-framing.ts for this @grpc/grpc-js version',
    );
  }
  installed = true;
  definitions.toGrpcJsMethodDefinition = (definition: GrpcJsMethod) => viewing(toMethod(definition as never), definition);
  definitions.toGrpcJsServiceDefinition = (definition: Record<string, GrpcJsMethod>) =>
    Object.fromEntries(Object.entries(toService(definition as never)).map(([key, method]) => [key, viewing(method, definition[key]!)]));
  // Identity only: such messages are never compressed (grpc-js marks them so).
  identity.writeMessage = async function writeMessage(message: Buffer) {
    return framed(message);
  };
  server.serializeMessage = function serializeMessage(this: { handler: { serialize(value: unknown): Buffer } }, value: unknown) {
    const frame = framed(this.handler.serialize(value));
    lastServerFrame = frame;
    return frame;
  };
  const sendMessage = server.sendMessage as (this: unknown, message: unknown, callback: () => void) => void;
  // grpc-js serializes and starts the write within the call, and calls back
  // (later) only when the write succeeded.
  server.sendMessage = function sendReleasing(this: unknown, message: unknown, callback: () => void) {
    lastServerFrame = undefined;
    const sent: { frame?: Buffer } = {};
    sendMessage.call(this, message, () => {
      if (sent.frame) releaseChunk(sent.frame);
      callback();
    });
    sent.frame = lastServerFrame;
    lastServerFrame = undefined;
  };
  type SendWithContext = (this: { finalStatus: unknown }, context: { callback?: () => void }, message: Buffer) => void;
  const sendWithContext = subchannelCall.sendMessageWithContext as SendWithContext;
  subchannelCall.sendMessageWithContext = function sendReleasing(this: { finalStatus: unknown }, context: { callback?: () => void }, message: Buffer) {
    if (!ownFrames.has(message) || message.length - 5 <= RETRY_BUFFER_BYTES) return sendWithContext.call(this, context, message);
    // A failed write ends the call (finalStatus) before calling back: the
    // frame may still be in a socket write then, so it is left to the collector.
    const release = () => {
      if (this.finalStatus === null) releaseChunk(message);
      context.callback?.();
    };
    return sendWithContext.call(this, { ...context, callback: release }, message);
  } satisfies SendWithContext;
}
