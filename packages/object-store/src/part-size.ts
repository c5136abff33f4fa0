const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** S3's multipart limits, which every compatible server shares. */
export const S3_LIMITS = {
  /** the smallest part but the last */
  minPartSize: 5 * MiB,
  maxPartSize: 5 * GiB,
  maxParts: 10_000,
  /** the largest object */
  maxObjectSize: 5 * 1024 * GiB,
} as const;

/**
 * The part size when the object is small enough for it: memory per part in
 * flight vs requests per GiB. S3's smallest, as @aws-sdk/lib-storage's
 * default: a multipart upload holds (parts in flight + 1) of them, 25 MiB at
 * the default 4 in flight (40 MiB with 8 MiB parts put storage's RSS growth
 * during a 1 GiB upload over 64 MiB).
 */
export const DEFAULT_PART_SIZE = 5 * MiB;

/**
 * The part size for an object of `totalBytes` (the size in its tar header):
 * `preferred` (at least S3's 5 MiB minimum) unless that would need more than
 * 10,000 parts, then the smallest whole number of MiB that fits in 10,000
 * (200 GiB: 21 MiB parts). Never more than S3's 5 GiB per part: an object
 * over S3's 5 TiB limit is refused here rather than by the server mid-upload.
 */
export function partSizeFor(totalBytes: number, preferred: number = DEFAULT_PART_SIZE): number {
  if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) {
    throw new RangeError(`object size must be a whole number of bytes >= 0, got ${totalBytes}`);
  }
  if (totalBytes > S3_LIMITS.maxObjectSize) {
    throw new RangeError(`object size ${totalBytes} exceeds S3's largest object (${S3_LIMITS.maxObjectSize} bytes, 5 TiB)`);
  }
  if (!Number.isSafeInteger(preferred) || preferred < S3_LIMITS.minPartSize || preferred > S3_LIMITS.maxPartSize) {
    throw new RangeError(`preferred part size must be a whole number of bytes in [5 MiB, 5 GiB], got ${preferred}`);
  }
  const fitting = Math.ceil(totalBytes / S3_LIMITS.maxParts / MiB) * MiB;
  return Math.min(Math.max(preferred, fitting), S3_LIMITS.maxPartSize);
}
