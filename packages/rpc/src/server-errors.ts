import { isAbortError } from 'abort-controller-x';
import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc';
import type { Logger } from 'pino';
import { DomainError } from './errors.js';

/**
 * Longest message a refusal carries. It travels in a trailer, and a client
 * whose header limit it exceeds tears down the whole connection (grpc-js
 * then fails every call sharing it): a message quoting a huge input must not
 * get that far.
 */
export const MAX_ERROR_MESSAGE_CHARS = 2000;

function capped(message: string): string {
  return message.length <= MAX_ERROR_MESSAGE_CHARS ? message : `${message.slice(0, MAX_ERROR_MESSAGE_CHARS)}… (cut)`;
}

/**
 * Maps DomainErrors to their status and anything unexpected to INTERNAL,
 * logging the latter with the method so it can be found.
 */
export function errorMappingMiddleware(logger: Logger) {
  return async function* errorMapping<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    try {
      return yield* call.next(call.request, context);
    } catch (err: unknown) {
      if (isAbortError(err)) throw err;
      if (err instanceof ServerError) throw new ServerError(err.code, capped(err.details));
      if (err instanceof DomainError) throw new ServerError(err.status, capped(err.message));
      logger.error({ err, method: call.method.path }, 'unhandled error in RPC handler');
      throw new ServerError(Status.INTERNAL, `internal error in ${call.method.path}; see the server log`);
    }
  };
}
