import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Checks `authorization: Bearer <token>` headers against one token in
 * constant time: both sides are hashed first, so neither the token's length
 * nor how much of it matched shows in the time an answer takes.
 */
export function bearerCheck(token: string): (header: string | undefined) => boolean {
  const expected = digest(token);
  return (header) => {
    const presented = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
    // A missing header is hashed too, so it takes as long as a wrong one.
    return timingSafeEqual(digest(presented ?? ''), expected) && presented !== undefined;
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
