import { describe, expect, it } from 'vitest';
import { redactTokens, tokenProblem } from './token-format.js';

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

describe('redactTokens', () => {
  it('hides anything token-shaped', () => {
    expect(redactTokens(`bad token ${TOKEN}.`)).toBe('bad token cai_<redacted>.');
    expect(redactTokens(`${TOKEN},${TOKEN}`)).toBe('cai_<redacted>,cai_<redacted>');
    expect(redactTokens('nothing here')).toBe('nothing here');
  });
});
