import { randomBytes } from 'node:crypto';
import { base64urlLength, decodeBase64url } from './base64url.js';
import { hashMatches, sha256Hex } from './digest.js';

// A user's API token: `cai_<id>_<secret>`. The prefix makes a leaked token
// recognisable to secret scanners and people; the id is public (listed,
// logged, the store key); only the secret's SHA-256 is ever stored. The
// secret is base64url and may itself contain "_" or "-": the parts are found
// by position, every length being fixed.

export const API_TOKEN_PREFIX = 'cai_';

const ID_BYTES = 10;
/** 80 random bits as 16 characters of lowercase RFC 4648 base32: no padding, no case to get wrong. */
export const API_TOKEN_ID_LENGTH = 16;
const SECRET_BYTES = 32;
/** 256 random bits, unpadded base64url. */
export const API_TOKEN_SECRET_LENGTH = base64urlLength(SECRET_BYTES);
export const API_TOKEN_LENGTH = API_TOKEN_PREFIX.length + API_TOKEN_ID_LENGTH + 1 + API_TOKEN_SECRET_LENGTH;

const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const TOKEN_ID = /^[a-z2-7]{16}$/;

export interface NewApiToken {
  /** the whole token, shown to its user once and never stored */
  token: string;
  tokenId: string;
  /** lowercase hex SHA-256 of the secret part's text: the only form of the secret that is stored */
  secretSha256: string;
}

export interface ParsedApiToken {
  ok: true;
  tokenId: string;
  secret: string;
}

export interface MalformedApiToken {
  ok: false;
  reason: 'malformed';
  /** what is wrong, starting "malformed: "; never quotes the token */
  message: string;
}

export function newApiToken(): NewApiToken {
  const tokenId = base32(randomBytes(ID_BYTES));
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { token: `${API_TOKEN_PREFIX}${tokenId}_${secret}`, tokenId, secretSha256: sha256Hex(secret) };
}

/** Whether `tokenId` has the shape newApiToken gives ids, e.g. for an id typed into `tokens revoke`. */
export function isApiTokenId(tokenId: string): boolean {
  return TOKEN_ID.test(tokenId);
}

/** Splits untrusted text into id and secret, checking the prefix, every length and every character. */
export function parseApiToken(text: string): ParsedApiToken | MalformedApiToken {
  // First, so that a megabyte of input costs no more than a short one.
  if (text.length !== API_TOKEN_LENGTH) {
    return malformed(`an API token is ${API_TOKEN_LENGTH} characters, got ${text.length}`);
  }
  if (!text.startsWith(API_TOKEN_PREFIX)) return malformed(`an API token starts with "${API_TOKEN_PREFIX}"`);
  const idEnd = API_TOKEN_PREFIX.length + API_TOKEN_ID_LENGTH;
  const tokenId = text.slice(API_TOKEN_PREFIX.length, idEnd);
  if (!isApiTokenId(tokenId)) {
    return malformed(`the token id must be ${API_TOKEN_ID_LENGTH} characters of a-z and 2-7`);
  }
  if (text[idEnd] !== '_') return malformed('the token id must be followed by "_"');
  const secret = text.slice(idEnd + 1);
  if (decodeBase64url(secret)?.length !== SECRET_BYTES) {
    return malformed(`the secret must be ${API_TOKEN_SECRET_LENGTH} characters of unpadded base64url`);
  }
  return { ok: true, tokenId, secret };
}

/**
 * Whether `secret` is the one whose hash is stored, in constant time. A
 * stored value that is not a SHA-256 hex digest matches nothing.
 */
export function secretMatches(secret: string, secretSha256: string): boolean {
  return hashMatches(secret, secretSha256);
}

function malformed(what: string): MalformedApiToken {
  return { ok: false, reason: 'malformed', message: `malformed: ${what}` };
}

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(value >>> bits) & 31];
    }
  }
  // ID_BYTES is a multiple of 5, so no bits are ever left over.
  return out;
}
