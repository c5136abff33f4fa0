import { describe, expect, it } from 'vitest';
import { newApiToken } from './api-token.js';
import { bearer, bearerFrom, MAX_AUTHORIZATION_LENGTH } from './bearer.js';
import { issueWorkerCredential } from './worker-credential.js';
import { SigningKey } from './signing-key.js';

describe('bearer and bearerFrom', () => {
  const apiToken = newApiToken().token;
  const credential = issueWorkerCredential(SigningKey.generate(), 'worker-1');

  it.each([
    ['an API token', apiToken],
    ['a signed credential', credential],
  ])('round-trip %s', (_what, token) => {
    expect(bearer(token)).toBe(`Bearer ${token}`);
    expect(bearerFrom(bearer(token))).toEqual({ ok: true, token });
    expect(bearerFrom([bearer(token)])).toEqual({ ok: true, token });
  });

  it.each(['bearer', 'BEARER', 'BeArEr'])('takes the scheme in any case: %s', (scheme) => {
    expect(bearerFrom(`${scheme} ${apiToken}`)).toEqual({ ok: true, token: apiToken });
  });

  it.each([undefined, [] as string[]])('says the token is missing when there is no metadata: %j', (metadata) => {
    expect(bearerFrom(metadata)).toEqual({ ok: false, reason: 'missing', message: 'missing: no authorization metadata' });
  });

  it.each([
    ['two values', [bearer(apiToken), bearer(apiToken)]],
    ['empty', ''],
    ['no scheme', apiToken],
    ['another scheme', `Basic ${apiToken}`],
    ['no token', 'Bearer '],
    ['two spaces', `Bearer  ${apiToken}`],
    ['a tab', `Bearer\t${apiToken}`],
    ['a trailing space', `Bearer ${apiToken} `],
    ['a leading space', ` Bearer ${apiToken}`],
    ['two tokens', `Bearer ${apiToken} ${apiToken}`],
    ['a control character', `Bearer ${apiToken}\u0000`],
    ['a non-ASCII character', `Bearer ${apiToken}é`],
    ['padding inside', `Bearer ab=cd`],
    ['a megabyte', `Bearer ${'a'.repeat(1_000_000)}`],
  ])('refuses %s as malformed, without quoting it', (_what, metadata) => {
    const parsed = bearerFrom(metadata);
    expect(parsed).toMatchObject({ ok: false, reason: 'malformed' });
    expect(!parsed.ok && parsed.message).toMatch(/^malformed: /);
    expect(!parsed.ok && parsed.message).not.toContain(apiToken.slice(4, 20));
  });

  it('bounds the header length, and says so', () => {
    const atLimit = `Bearer ${'a'.repeat(MAX_AUTHORIZATION_LENGTH - 7)}`;
    expect(bearerFrom(atLimit).ok).toBe(true);
    expect(bearerFrom(`${atLimit}a`)).toMatchObject({
      message: `malformed: authorization is at most ${MAX_AUTHORIZATION_LENGTH} characters, got ${MAX_AUTHORIZATION_LENGTH + 1}`,
    });
  });

  it('refuses to build a header from something that is not a token', () => {
    expect(() => bearer('')).toThrow(/a bearer token is/);
    expect(() => bearer('two words')).toThrow(/a bearer token is/);
    expect(() => bearer('line\nbreak')).toThrow(/a bearer token is/);
    expect(() => bearer('a'.repeat(MAX_AUTHORIZATION_LENGTH))).toThrow(/a bearer token is/);
  });
});
