import { createHash, timingSafeEqual } from 'node:crypto';

const SHA256_HEX = /^[0-9a-f]{64}$/i;

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export function sha256Hex(text: string): string {
  return sha256(text).toString('hex');
}

/**
 * Whether `text` hashes to `expectedHex`, in time that depends on neither.
 * Both sides are 32-byte digests, so timingSafeEqual never sees unequal
 * lengths; a stored value that is not a digest is compared all the same and
 * then refused, so even that case does the same work.
 */
export function hashMatches(text: string, expectedHex: string): boolean {
  const wellFormed = SHA256_HEX.test(expectedHex);
  const expected = wellFormed ? Buffer.from(expectedHex, 'hex') : Buffer.alloc(32);
  const equal = timingSafeEqual(sha256(text), expected);
  return wellFormed && equal;
}

/** Whether two secrets are equal, in time that depends on neither (nor on their lengths). */
export function secretsEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}
