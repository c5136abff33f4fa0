import { isAbortError } from 'abort-controller-x';
import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc';
import type { Logger } from 'pino';
import { DomainError } from './errors.js';

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
      if (err instanceof ServerError || isAbortError(err)) throw err;
      if (err instanceof DomainError) throw new ServerError(err.status, err.message);
      logger.error({ err, method: call.method.path }, 'unhandled error in RPC handler');
      throw new ServerError(Status.INTERNAL, `internal error in ${call.method.path}; see the server log`);
    }
  };
}
