import { z } from 'zod';
import { decodeBase64url } from './base64url.js';
import type { SigningKey, VerifyingKey } from './signing-key.js';

// The compact form of every credential the master signs:
//   <prefix>_<base64url(JSON claims)>.<base64url(Ed25519 signature)>
// The signature covers `<prefix>_<claims>` as sent, so neither the kind nor
// a byte of the claims can change without it failing. Claims are checked
// only after the signature is: until then they are an attacker's bytes.

/** Longest signed token accepted; checked before anything else is looked at. */
export const MAX_SIGNED_TOKEN_LENGTH = 4096;

/** How far the clocks of the master and a verifier may disagree before times count against a token. */
export const DEFAULT_LEEWAY_SECONDS = 30;

const ED25519_SIGNATURE_BYTES = 64;
const TOKEN_SHAPE = /^([a-z]{3})_([^.]+)\.([^.]+)$/;

/** Seconds since the epoch, as `iat` and `exp` are written; up to the end of year 9999, so every one is a Date. */
export const epochSeconds = z.int().min(0).max(253_402_300_799);

export interface IssuedClaims {
  typ: string;
  /** issued at, seconds since the epoch; a token is not valid before it */
  iat: number;
  /** expires at, seconds since the epoch; valid up to, not including, this second */
  exp?: number;
}

/** One kind of signed token: what its prefix and `typ` are, and what its claims must hold. */
export interface TokenKind<C extends IssuedClaims> {
  /** for messages: "worker credential" */
  name: string;
  prefix: string;
  typ: C['typ'];
  claims: z.ZodType<C>;
}

export type VerifyFailure =
  | 'malformed'
  | 'bad signature'
  | 'expired'
  | 'not yet valid'
  | 'wrong kind'
  | 'wrong audience';

export type Verified<C> =
  | { ok: true; claims: C }
  /** `message` starts with the reason and says what is wrong; it never quotes the token */
  | { ok: false; reason: VerifyFailure; message: string };

export interface IssueOptions {
  /** default: the current time */
  now?: Date;
  /** lifetime; without it the token carries no `exp` (if its kind allows that) */
  ttlSeconds?: number;
}

export interface VerifyOptions {
  /** default: the current time */
  now?: Date;
  /** default DEFAULT_LEEWAY_SECONDS */
  leewaySeconds?: number;
}

const issuedClaims = z.object({ typ: z.string().max(16), iat: epochSeconds, exp: epochSeconds.optional() });

/**
 * Signs `fields` as a token of `kind`, adding `typ`, `iat` and (with a ttl)
 * `exp`. Throws if the claims break the kind's rules: a token its verifier
 * would refuse is a bug at the issuer, better found there.
 */
export function issueToken<C extends IssuedClaims>(
  key: SigningKey,
  kind: TokenKind<C>,
  fields: Omit<C, 'typ' | 'iat' | 'exp'>,
  { now = new Date(), ttlSeconds }: IssueOptions = {},
): string {
  if (ttlSeconds !== undefined && !(Number.isInteger(ttlSeconds) && ttlSeconds > 0)) {
    throw new Error(`ttlSeconds must be a whole number > 0, got ${ttlSeconds}`);
  }
  const iat = Math.floor(now.getTime() / 1000);
  const exp = ttlSeconds === undefined ? {} : { exp: iat + ttlSeconds };
  const parsed = kind.claims.safeParse({ typ: kind.typ, ...fields, iat, ...exp });
  if (!parsed.success) throw new Error(`cannot issue ${aOrAn(kind.name)}: ${describeIssues(parsed.error)}`);
  return signClaims(key, kind.prefix, Buffer.from(JSON.stringify(parsed.data), 'utf8'));
}

/** Signs claim bytes as they are, unchecked. issueToken is the way in; tests forge tokens with this. */
export function signClaims(key: SigningKey, prefix: string, claims: Buffer): string {
  const signed = `${prefix}_${claims.toString('base64url')}`;
  return `${signed}.${key.sign(Buffer.from(signed, 'ascii')).toString('base64url')}`;
}

/** Checks, in order: size and shape, signature, kind, claims, then time. */
export function verifyToken<C extends IssuedClaims>(
  token: string,
  key: VerifyingKey,
  kind: TokenKind<C>,
  { now = new Date(), leewaySeconds = DEFAULT_LEEWAY_SECONDS }: VerifyOptions = {},
): Verified<C> {
  const nowSeconds = Math.floor(now.getTime() / 1000);
  // NaN compares false both ways, which would let an expired token through.
  if (!Number.isFinite(nowSeconds) || !(leewaySeconds >= 0)) {
    throw new Error(`now must be a valid date and leewaySeconds >= 0, got ${String(now)} and ${leewaySeconds}`);
  }
  const name = kind.name;
  const refuse = (reason: VerifyFailure, what: string): Verified<C> => ({
    ok: false,
    reason,
    message: `${reason}: ${what}`,
  });
  if (token.length > MAX_SIGNED_TOKEN_LENGTH) {
    return refuse('malformed', `${aOrAn(name)} is at most ${MAX_SIGNED_TOKEN_LENGTH} characters, got ${token.length}`);
  }
  const [, prefix, body, signatureText] = TOKEN_SHAPE.exec(token) ?? [];
  if (prefix === undefined || body === undefined || signatureText === undefined) {
    return refuse('malformed', `${aOrAn(name)} has the form ${kind.prefix}_<claims>.<signature>`);
  }
  const claimBytes = decodeBase64url(body);
  const signature = decodeBase64url(signatureText);
  if (claimBytes === undefined || signature?.length !== ED25519_SIGNATURE_BYTES) {
    return refuse('malformed', `${aOrAn(name)} is unpadded base64url claims and a 64-byte signature`);
  }
  if (!key.verify(Buffer.from(`${prefix}_${body}`, 'ascii'), signature)) {
    return refuse('bad signature', `the ${name} was not signed by this cluster's master key`);
  }

  let json: unknown;
  try {
    json = JSON.parse(claimBytes.toString('utf8'));
  } catch {
    return refuse('malformed', `the ${name}'s claims are not JSON`);
  }
  const issued = issuedClaims.safeParse(json);
  if (!issued.success) return refuse('malformed', `the ${name}'s claims: ${describeIssues(issued.error)}`);
  const { typ, iat, exp } = issued.data;
  if (prefix !== kind.prefix || typ !== kind.typ) {
    // Both are signed and short (a 3-letter prefix, typ <= 16 characters): safe to echo.
    const got = `${prefix}_ of typ ${JSON.stringify(typ)}`;
    return refuse('wrong kind', `expected ${aOrAn(name)} (${kind.prefix}_), got ${got}`);
  }
  const claims = kind.claims.safeParse(json);
  if (!claims.success) return refuse('malformed', `the ${name}'s claims: ${describeIssues(claims.error)}`);

  if (iat > nowSeconds + leewaySeconds) {
    const when = `${isoSeconds(iat)}, after now (${isoSeconds(nowSeconds)})`;
    return refuse('not yet valid', `the ${name} is issued at ${when}`);
  }
  if (exp !== undefined && nowSeconds >= exp + leewaySeconds) {
    return refuse('expired', `the ${name} expired at ${isoSeconds(exp)}`);
  }
  return { ok: true, claims: claims.data };
}

/** The first few zod issues as "field: rule"; never the values, which are untrusted. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || 'claims'}: ${issue.message}`)
    .join('; ');
}

function isoSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

function aOrAn(noun: string): string {
  return `${/^[aeiou]/.test(noun) ? 'an' : 'a'} ${noun}`;
}
