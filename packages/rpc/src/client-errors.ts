import { ClientError, Status } from 'nice-grpc-common';

/**
 * What a failed call means to the caller, from the gRPC status alone (never
 * the message text):
 * - `unavailable`: the server could not be reached or the connection dropped (UNAVAILABLE)
 * - `timeout`: the call's deadline passed (DEADLINE_EXCEEDED)
 * - `cancelled`: the server or the transport ended the call (CANCELLED); a
 *   caller's own cancel is an abort, so `local`
 * - `not-found`: NOT_FOUND (another user's record answers the same)
 * - `already-exists`: ALREADY_EXISTS
 * - `invalid`: the request itself is wrong (INVALID_ARGUMENT, OUT_OF_RANGE)
 * - `failed-precondition`: the request is valid but the state it assumed has moved on (FAILED_PRECONDITION)
 * - `aborted`: a conflicting concurrent change (ABORTED)
 * - `exhausted`: a quota, rate or capacity limit (RESOURCE_EXHAUSTED)
 * - `unauthenticated`: no or bad credentials (UNAUTHENTICATED)
 * - `permission-denied`: PERMISSION_DENIED
 * - `unimplemented`: the server does not have this method (UNIMPLEMENTED)
 * - `internal`: the server failed (INTERNAL, UNKNOWN, DATA_LOSS, and any code
 *   this table does not know)
 * - `local`: not a gRPC failure at all: an abort of the caller's own signal,
 *   a bug, a local I/O error
 */
export type ClientErrorKind =
  | 'unavailable'
  | 'timeout'
  | 'cancelled'
  | 'not-found'
  | 'already-exists'
  | 'invalid'
  | 'failed-precondition'
  | 'aborted'
  | 'exhausted'
  | 'unauthenticated'
  | 'permission-denied'
  | 'unimplemented'
  | 'internal'
  | 'local';

const KIND_OF_STATUS: Partial<Record<Status, ClientErrorKind>> = {
  [Status.UNAVAILABLE]: 'unavailable',
  [Status.DEADLINE_EXCEEDED]: 'timeout',
  [Status.CANCELLED]: 'cancelled',
  [Status.NOT_FOUND]: 'not-found',
  [Status.ALREADY_EXISTS]: 'already-exists',
  [Status.INVALID_ARGUMENT]: 'invalid',
  [Status.OUT_OF_RANGE]: 'invalid',
  [Status.FAILED_PRECONDITION]: 'failed-precondition',
  [Status.ABORTED]: 'aborted',
  [Status.RESOURCE_EXHAUSTED]: 'exhausted',
  [Status.UNAUTHENTICATED]: 'unauthenticated',
  [Status.PERMISSION_DENIED]: 'permission-denied',
  [Status.UNIMPLEMENTED]: 'unimplemented',
  [Status.INTERNAL]: 'internal',
  [Status.UNKNOWN]: 'internal',
  [Status.DATA_LOSS]: 'internal',
};

/** The kind of anything a client call threw. */
export function clientErrorKind(err: unknown): ClientErrorKind {
  if (!(err instanceof ClientError)) return 'local';
  return KIND_OF_STATUS[err.code] ?? 'internal';
}

const TRANSIENT = new Set<ClientErrorKind>(['unavailable', 'timeout', 'cancelled', 'aborted']);
const CONNECTION_LOSS = new Set<ClientErrorKind>(['unavailable', 'timeout', 'cancelled']);

/**
 * Worth resending an idempotent call: the server is down, restarting or slow,
 * ended the call (a server cancels its calls when it shuts down), or a
 * concurrent change got in the way. Not `exhausted`: here that is a quota
 * (storage's per-upload limit) or grpc-js's own message-size limit, which the
 * same call meets again.
 */
export function isTransient(err: unknown): boolean {
  return TRANSIENT.has(clientErrorKind(err));
}

/**
 * The call was cut off rather than answered (unreachable, timed out, or ended
 * by the server, as a restarting server ends its streams): a long-lived stream
 * may reconnect and resume.
 */
export function isConnectionLoss(err: unknown): boolean {
  return CONNECTION_LOSS.has(clientErrorKind(err));
}

/**
 * The server no longer has, or no longer is in, what the call refers to
 * (NOT_FOUND, FAILED_PRECONDITION); for a worker's report: the assignment is
 * no longer current, so resending cannot help.
 */
export function isStale(err: unknown): boolean {
  const kind = clientErrorKind(err);
  return kind === 'not-found' || kind === 'failed-precondition';
}

/** The server could not be reached or did not answer in time (UNAVAILABLE, DEADLINE_EXCEEDED). */
export function isUnavailable(err: unknown): boolean {
  const kind = clientErrorKind(err);
  return kind === 'unavailable' || kind === 'timeout';
}

/** `CODE: details` for gRPC failures, the message otherwise: one line for a reason or a message. */
export function describeClientError(err: unknown): string {
  if (err instanceof ClientError) return `${Status[err.code] ?? err.code}: ${err.details}`;
  return err instanceof Error ? err.message : String(err);
}
