/** A grpc-js call class: a Node object-mode stream whose readable side queues received messages. */
export type CallClass = new (...args: never[]) => object;

/**
 * `Call` with a readable side that holds at most `messages` received
 * messages before the call stops reading from HTTP/2 (Node's default for
 * object-mode streams is 16). Throws on a count that is not a whole number
 * of at least 1.
 */
export function holdingAtMost(Call: CallClass, messages: number): CallClass {
  if (!Number.isInteger(messages) || messages < 1) throw new RangeError(`readahead must be a whole number of messages >= 1, got ${messages}`);
  return class extends Call {
    constructor(...args: never[]) {
      super(...args);
      (this as unknown as { _readableState: { highWaterMark: number } })._readableState.highWaterMark = messages;
    }
  };
}
