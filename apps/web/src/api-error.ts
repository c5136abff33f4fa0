import { clientErrorKind, ClientError, type ClientErrorKind } from '@cloudai/rpc/client';

/** The `code` of an error answer; the HTTP status follows from it. */
export type ApiErrorCode =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'permission_denied'
  | 'csrf'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'range_not_satisfiable'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'resource_exhausted'
  | 'unimplemented'
  | 'unavailable'
  | 'internal';

const HTTP_STATUS: Record<ApiErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  csrf: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  resource_exhausted: 429,
  internal: 500,
  unimplemented: 501,
  unavailable: 503,
};

/** An expected failure of a request, answered as JSON `{code, message, field?}`. */
export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    /** the request field at fault (a body key or a query parameter) */
    readonly field?: string,
  ) {
    super(message);
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }

  toJSON(): { code: ApiErrorCode; message: string; field?: string } {
    return this.field === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, field: this.field };
  }
}

/** A request field that breaks a rule: 400, naming it. */
export function badRequest(field: string, message: string): ApiError {
  return new ApiError('invalid_argument', message, field);
}

const CODE_OF_KIND: Record<ClientErrorKind, ApiErrorCode> = {
  invalid: 'invalid_argument',
  unauthenticated: 'unauthenticated',
  'permission-denied': 'permission_denied',
  'not-found': 'not_found',
  'already-exists': 'conflict',
  'failed-precondition': 'conflict',
  aborted: 'conflict',
  exhausted: 'resource_exhausted',
  unimplemented: 'unimplemented',
  unavailable: 'unavailable',
  timeout: 'unavailable',
  cancelled: 'unavailable',
  internal: 'internal',
  local: 'internal',
};

/**
 * What a failed call to the master answers over HTTP: the code from the
 * one client error classifier, the master's message (which names the field
 * and holds no secret) for what the caller can fix, and a generic one for
 * the rest, whose detail goes to the log only. undefined: not a gRPC failure.
 */
export function apiErrorOfClientError(err: unknown): ApiError | undefined {
  if (!(err instanceof ClientError)) return undefined;
  const code = CODE_OF_KIND[clientErrorKind(err)];
  if (code === 'unavailable') return new ApiError(code, 'the master is unavailable; try again shortly');
  if (code === 'internal') return new ApiError(code, 'the master failed to answer');
  return new ApiError(code, err.details);
}
