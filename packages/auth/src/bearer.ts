// The `authorization: Bearer <token>` metadata every authenticated call carries.

export const AUTHORIZATION_METADATA = 'authorization';

/** Longer than any credential cloudai issues; a longer header is refused before it is looked at. */
export const MAX_AUTHORIZATION_LENGTH = 8192;

// RFC 6750 b64token: the characters cloudai's tokens are made of, and more.
const BEARER = /^bearer ([A-Za-z0-9._~+/-]+=*)$/i;

export type BearerToken =
  | { ok: true; token: string }
  /** `message` says what is wrong and never quotes the header */
  | { ok: false; reason: 'missing' | 'malformed'; message: string };

/**
 * The token in the authorization metadata. Takes every value of the key
 * (nice-grpc's `metadata.getAll`), since a call carrying two is as suspect as
 * one carrying a broken one; a single string is accepted too.
 */
export function bearerFrom(metadata: string | readonly string[] | undefined): BearerToken {
  const values = metadata === undefined ? [] : typeof metadata === 'string' ? [metadata] : metadata;
  if (values.length === 0) {
    return { ok: false, reason: 'missing', message: 'missing: no authorization metadata' };
  }
  if (values.length > 1) {
    return { ok: false, reason: 'malformed', message: 'malformed: more than one authorization metadata value' };
  }
  const [value = ''] = values;
  if (value.length > MAX_AUTHORIZATION_LENGTH) {
    return {
      ok: false,
      reason: 'malformed',
      message: `malformed: authorization is at most ${MAX_AUTHORIZATION_LENGTH} characters, got ${value.length}`,
    };
  }
  const token = BEARER.exec(value)?.[1];
  if (token === undefined) {
    return { ok: false, reason: 'malformed', message: 'malformed: authorization must be "Bearer <token>"' };
  }
  return { ok: true, token };
}

/** The authorization metadata value that carries `token`. */
export function bearer(token: string): string {
  const value = `Bearer ${token}`;
  if (value.length > MAX_AUTHORIZATION_LENGTH || !BEARER.test(value)) {
    throw new Error('a bearer token is 1 or more characters of A-Z a-z 0-9 . _ ~ + / - (then optional "=")');
  }
  return value;
}
