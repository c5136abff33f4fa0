/** A grpc-js call class: a Node object-mode stream whose readable side queues received messages, and writable side messages to send. */
type CallClass = new (...args: never[]) => object;

type Side = 'readable' | 'writable';

/** grpc-js's own classes, by module and name, and the limits set on each: a second limit replaces the first of its side, keeps the other side's. */
const limited = new Map<object, Map<string, { original: CallClass; limits: Partial<Record<Side, number>> }>>();

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
export function limitCallQueue(calls: object, className: string, side: Side, messages: number): void {
  if (!Number.isInteger(messages) || messages < 1) throw new RangeError(`a queue must be a whole number of messages >= 1, got ${messages}`);
  const exported = calls as Record<string, unknown>;
  const classes = limited.get(calls) ?? new Map<string, { original: CallClass; limits: Partial<Record<Side, number>> }>();
  limited.set(calls, classes);
  const original = classes.get(className)?.original ?? exported[className];
  if (typeof original !== 'function') {
    throw new Error(`grpc-js internals changed: ${className} is gone; update packages/rpc/src/readahead-limit.ts and its callers`);
  }
  const limits = { ...classes.get(className)?.limits, [side]: messages };
  classes.set(className, { original: original as CallClass, limits });
  exported[className] = class extends (original as CallClass) {
    constructor(...args: never[]) {
      super(...args);
      const self = this as unknown as Record<'_readableState' | '_writableState', { highWaterMark: number }>;
      if (limits.readable !== undefined) self._readableState.highWaterMark = limits.readable;
      if (limits.writable !== undefined) self._writableState.highWaterMark = limits.writable;
    }
  };
}
