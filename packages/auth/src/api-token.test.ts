import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  API_TOKEN_LENGTH,
  isApiTokenId,
  newApiToken,
  parseApiToken,
  secretMatches,
} from './api-token.js';

describe('newApiToken', () => {
  it('is cai_<16 base32 id>_<43 base64url secret>, and parses back into its id and secret', () => {
    const { token, tokenId, secretSha256 } = newApiToken();
    expect(token).toMatch(/^cai_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
    expect(token).toHaveLength(API_TOKEN_LENGTH);
    const parsed = parseApiToken(token);
    expect(parsed).toEqual({ ok: true, tokenId, secret: token.slice(21) });
    expect(isApiTokenId(tokenId)).toBe(true);
    if (!parsed.ok) throw new Error(parsed.message);
    expect(secretMatches(parsed.secret, secretSha256)).toBe(true);
  });

  it('stores only the SHA-256 of the secret, as lowercase hex', () => {
    const { token, secretSha256 } = newApiToken();
    const secret = token.slice(21);
    expect(secretSha256).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(secretSha256).not.toContain(secret);
  });

  it('draws 256-bit secrets and 80-bit ids that are distinct over 20,000 tokens', () => {
    const tokens = Array.from({ length: 20_000 }, () => newApiToken());
    const secrets = new Set(tokens.map((t) => t.token.slice(21)));
    expect(secrets.size).toBe(tokens.length);
    expect(new Set(tokens.map((t) => t.tokenId)).size).toBe(tokens.length);
    for (const secret of [...secrets].slice(0, 100)) expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
  });
});

describe('parseApiToken', () => {
  const { token } = newApiToken();
  const id = token.slice(4, 20);
  const secret = token.slice(21);
  // A valid secret whose last character encodes bits a 32-byte value never sets.
  const nonCanonical = `${secret.slice(0, 42)}${secret.endsWith('B') ? 'C' : 'B'}`;

  it.each([
    ['wrong prefix', `cat_${id}_${secret}`, 'starts with "cai_"'],
    ['upper-case prefix', `CAI_${id}_${secret}`, 'starts with "cai_"'],
    ['empty', '', 'is 64 characters, got 0'],
    ['id one short', `cai_${id.slice(1)}_${secret}`, 'got 63'],
    ['secret one long', `cai_${id}_${secret}A`, 'got 65'],
    ['secret one short', `cai_${id}_${secret.slice(1)}`, 'got 63'],
    ['id in upper case', `cai_${id.toUpperCase()}_${secret}`, 'the token id must be'],
    ['id with a base32 digit it never uses', `cai_${id.slice(0, 15)}1_${secret}`, 'the token id must be'],
    ['underscore doubled after the prefix', `cai__${id.slice(1)}_${secret}`, 'the token id must be'],
    ['underscore doubled after the id', `cai_${id.slice(0, 15)}__${secret}`, 'the token id must be'],
    ['no underscore after the id', `cai_${id}-${secret}`, 'followed by "_"'],
    ['extra underscore part at the end', `cai_${id}_${secret.slice(0, 41)}_x`, 'the secret must be'],
    ['padded secret', `cai_${id}_${secret.slice(0, 42)}=`, 'the secret must be'],
    ['base64 (not url) alphabet', `cai_${id}_${secret.slice(0, 42).replace(/./, '+')}A`, 'the secret must be'],
    ['non-canonical last character', `cai_${id}_${nonCanonical}`, 'the secret must be'],
    ['trailing newline', `cai_${id}_${secret.slice(0, 42)}\n`, 'the secret must be'],
    ['non-ASCII letter', `cai_${id}_${secret.slice(0, 42)}é`, 'the secret must be'],
    ['1 MB of input', `cai_${id}_${secret}${'A'.repeat(1_000_000)}`, 'got 1000064'],
  ])('refuses %s, saying what is wrong', (_what, text, says) => {
    const parsed = parseApiToken(text);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.reason).toBe('malformed');
    expect(parsed.message).toMatch(/^malformed: /);
    expect(parsed.message).toContain(says);
    expect(parsed.message).not.toContain(secret.slice(0, 10));
  });
});

describe('secretMatches', () => {
  const { token, secretSha256 } = newApiToken();
  const secret = token.slice(21);

  it('is true for the secret itself, also against upper-case hex', () => {
    expect(secretMatches(secret, secretSha256)).toBe(true);
    expect(secretMatches(secret, secretSha256.toUpperCase())).toBe(true);
  });

  it('is false for a stored hash one bit away', () => {
    const bytes = Buffer.from(secretSha256, 'hex');
    bytes[31]! ^= 1;
    expect(secretMatches(secret, bytes.toString('hex'))).toBe(false);
  });

  it('is false for a secret one character away, and for another token', () => {
    const changed = `${secret.slice(0, 42)}${secret.endsWith('A') ? 'E' : 'A'}`;
    expect(secretMatches(changed, secretSha256)).toBe(false);
    expect(secretMatches(newApiToken().token.slice(21), secretSha256)).toBe(false);
  });

  it('matches nothing when the stored value is not a digest', () => {
    expect(secretMatches(secret, secretSha256.slice(0, 62))).toBe(false);
    expect(secretMatches(secret, `${secretSha256}00`)).toBe(false);
    expect(secretMatches(secret, `${secretSha256.slice(0, 63)}g`)).toBe(false);
    expect(secretMatches('', '')).toBe(false);
    // What a stored value of all zeros is compared with when malformed: no secret can match it that way either.
    expect(secretMatches(secret, '0'.repeat(64))).toBe(false);
  });
});
