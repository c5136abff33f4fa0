import { Status } from 'nice-grpc-common';

/**
 * An expected failure with the gRPC status it maps to. Handlers and domain
 * code throw these; one server middleware turns them into ServerErrors, and
 * anything else becomes INTERNAL with a log line.
 */
export class DomainError extends Error {
  constructor(
    readonly status: Status,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DomainError';
  }
}

export const invalidArgument = (message: string) => new DomainError(Status.INVALID_ARGUMENT, message);
export const outOfRange = (message: string) => new DomainError(Status.OUT_OF_RANGE, message);
export const notFound = (message: string) => new DomainError(Status.NOT_FOUND, message);
export const failedPrecondition = (message: string) => new DomainError(Status.FAILED_PRECONDITION, message);
export const aborted = (message: string) => new DomainError(Status.ABORTED, message);
export const unavailable = (message: string) => new DomainError(Status.UNAVAILABLE, message);
export const unauthenticated = (message: string) => new DomainError(Status.UNAUTHENTICATED, message);
export const resourceExhausted = (message: string) => new DomainError(Status.RESOURCE_EXHAUSTED, message);
