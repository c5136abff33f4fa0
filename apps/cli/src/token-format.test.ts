import { describe, expect, it } from 'vitest';
import { redactTokens, tokenIdSchema, tokenProblem } from './token-format.js';

const ID = 'Ab3_-x9Zq0Lm7Pw2';
const SECRET = 'k'.repeat(20) + '_-' + 'Q9'.repeat(10) + 'z';
const TOKEN = `cai_${ID}_${SECRET}`;

describe('tokenProblem', () => {
  it('accepts cai_<16-character id>_<43-character secret> of base64url characters', () => {
    expect(SECRET).toHaveLength(43);
    expect(tokenProblem(TOKEN)).toBeUndefined();
  });

  it.each([
    ['', 'it is empty'],
    [`${TOKEN}\n`, 'it contains whitespace'],
    [`Bearer ${TOKEN}`, 'it contains whitespace'],
    [`CAI_${ID}_${SECRET}`, 'it does not start with cai_'],
    [TOKEN.slice(0, -1), 'it has 63 characters, a token has 64'],
    [`cai_${ID}x_${SECRET.slice(1)}`, 'it is not cai_<16-character id>_<43-character secret> made of letters, digits, _ and -'],
    [`cai_${ID}_${SECRET.slice(1)}=`, 'it is not cai_<16-character id>_<43-character secret> made of letters, digits, _ and -'],
  ])('refuses %j: %s', (token, problem) => {
    expect(tokenProblem(token)).toBe(problem);
  });
});

describe('tokenIdSchema', () => {
  it('takes the 16-character public id', () => {
    expect(tokenIdSchema('<token-id>').parse(ID)).toBe(ID);
  });

  it('refuses a whole token without repeating it', () => {
    const res = tokenIdSchema('<token-id>').safeParse(TOKEN);
    expect(res.success).toBe(false);
    expect(res.error?.issues[0]?.message).toBe('<token-id> must be a token id, not the token itself: the 16 characters after cai_');
  });

  it('refuses anything else', () => {
    expect(tokenIdSchema('<token-id>').safeParse('abc').error?.issues[0]?.message).toBe(
      '<token-id> must be the 16-character token id `cloudai tokens list` shows',
    );
  });
});

describe('redactTokens', () => {
  it('hides anything token-shaped', () => {
    expect(redactTokens(`bad token ${TOKEN}.`)).toBe('bad token cai_<redacted>.');
    expect(redactTokens(`${TOKEN},${TOKEN}`)).toBe('cai_<redacted>,cai_<redacted>');
    expect(redactTokens('nothing here')).toBe('nothing here');
  });
});
