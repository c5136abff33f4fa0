/**
 * A failed object-store operation. `code` is the S3 error code the server
 * answered (NoSuchKey, BadDigest, InvalidRange, AccessDenied, …) or one of
 * this package's own: SizeMismatch (the source's bytes differ from the size
 * declared), ChecksumMismatch (from the sha256 expected), Network (no answer).
 */
export class ObjectStoreError extends Error {
  override name = 'ObjectStoreError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `err` as an ObjectStoreError saying which operation on which key failed; an abort stays the abort. */
export function objectStoreError(operation: string, key: string, err: unknown): Error {
  if (err instanceof ObjectStoreError) return err;
  const name = err instanceof Error ? err.name : 'Error';
  if (name === 'AbortError') return err as Error;
  // Only an answer from the server carries an HTTP status; without one it never answered.
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  const code = status === undefined ? 'Network' : name;
  const message = err instanceof Error ? err.message : String(err);
  return new ObjectStoreError(code, `${operation} ${key}: ${code}${status ? ` (HTTP ${status})` : ''}: ${message}`, { cause: err });
}
