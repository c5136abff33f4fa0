import { describe, expect, it } from 'vitest';
import { idempotencyKeySchema } from './ids.js';

describe('idempotencyKeySchema', () => {
  it.each(['nightly-42', '0190a000-0000-7000-8000-0000000000aa', 'a', 'job:2025-01-01/run#3', 'k'.repeat(128)])('accepts %s', (key) => {
    expect(idempotencyKeySchema('--idempotency-key').parse(key)).toBe(key);
  });

  it.each(['', 'has space', 'tab\there', 'new\nline', 'naïve', 'k'.repeat(129)])('refuses %j, naming the field and the rule', (key) => {
    const parsed = idempotencyKeySchema('--idempotency-key').safeParse(key);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe(
      `--idempotency-key must be 1-128 printable ASCII characters without spaces, got ${JSON.stringify(key)}`,
    );
  });
});
