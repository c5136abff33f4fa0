import { describe, expect, it } from 'vitest';
import { joinSecretMatches, newJoinSecret } from './join-secret.js';

describe('join secrets', () => {
  it('are caj_ and 32 random bytes of base64url, distinct over 10,000 draws', () => {
    const secrets = Array.from({ length: 10_000 }, () => newJoinSecret());
    for (const secret of secrets.slice(0, 100)) {
      expect(secret).toMatch(/^caj_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(secret.slice(4), 'base64url')).toHaveLength(32);
    }
    expect(new Set(secrets).size).toBe(secrets.length);
  });

  it('match only themselves, whatever the lengths', () => {
    const secret = newJoinSecret();
    expect(joinSecretMatches(secret, secret)).toBe(true);
    expect(joinSecretMatches(`${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`, secret)).toBe(false);
    expect(joinSecretMatches(secret.slice(0, -1), secret)).toBe(false);
    expect(joinSecretMatches(`${secret}x`, secret)).toBe(false);
    expect(joinSecretMatches('', secret)).toBe(false);
    expect(joinSecretMatches(newJoinSecret(), secret)).toBe(false);
  });
});
