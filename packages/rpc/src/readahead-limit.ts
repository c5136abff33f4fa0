/** A grpc-js call class: a Node object-mode stream whose readable side queues received messages, and writable side messages to send. */
type CallClass = new (...args: never[]) => object;

/** grpc-js's own classes, by module and name, so that a second limit replaces the first rather than wrapping it. */
const originals = new Map<object, Map<string, CallClass>>();

/**
 * Replaces the call class `className` exported by the grpc-js module
 * `calls` with one whose `side` holds at most `messages` messages: the
 * readable side, received messages before the call stops reading from
 * HTTP/2; the writable side, messages waiting to be sent before a write asks
 * its caller to wait (Node's default for object-mode streams is 16 each).
 * grpc-js looks its classes up on the module at each call, so calls made
 * afterwards get the limit. Throws on a count that is not a whole number of
 * at least 1, and when grpc-js no longer exports that class.
 */
export function limitCallQueue(calls: object, className: string, side: 'readable' | 'writable', messages: number): void {
  if (!Number.isInteger(messages) || messages < 1) throw new RangeError(`a queue must be a whole number of messages >= 1, got ${messages}`);
  const exported = calls as Record<string, unknown>;
  const known = originals.get(calls) ?? new Map<string, CallClass>();
  originals.set(calls, known);
  const Original = known.get(className) ?? exported[className];
  if (typeof Original !== 'function') {
    throw new Error(`grpc-js internals changed: ${className} is gone; update packages/rpc/src/readahead-limit.ts and its callers`);
  }
  known.set(className, Original as CallClass);
  const state = side === 'readable' ? '_readableState' : '_writableState';
  exported[className] = class extends (Original as CallClass) {
    constructor(...args: never[]) {
      super(...args);
      (this as unknown as Record<typeof state, { highWaterMark: number }>)[state].highWaterMark = messages;
    }
  };
}
