import type { CallContext } from 'nice-grpc';

/**
 * Trailer a worker puts on every AssignTask reply, success or refusal, with
 * its worker id. A client that gets a failure without it cannot tell
 * whether the worker ever saw the call (a deadline, a broken connection),
 * since gRPC reports those with the same status codes a server may answer.
 */
export const ANSWERED_BY_TRAILER = 'cloudai-answered-by';

/** Marks this call's reply, whatever it turns out to be, as answered by `id`. */
export function markAnsweredBy(context: CallContext, id: string): void {
  context.trailer.set(ANSWERED_BY_TRAILER, id);
}
