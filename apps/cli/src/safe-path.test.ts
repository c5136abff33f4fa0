import { describe, expect, it } from 'vitest';
import { unsafePathReason } from './safe-path.js';

describe('unsafePathReason', () => {
  it.each(['a.txt', 'models/v1/model.bin', '..hidden', 'a..b/c'])('accepts %s', (path) => {
    expect(unsafePathReason(path, '/tmp/out')).toBeUndefined();
  });

  it.each([
    ['', 'it is empty'],
    ['../x', 'it contains ..'],
    ['a/../../x', 'it contains ..'],
    ['..', 'it contains ..'],
    ['/etc/passwd', 'it is absolute'],
    ['a\\b', 'it contains a backslash'],
    ['a\u0000b', 'it contains NUL'],
    ['a//b', 'it has an empty or . segment'],
    ['./a', 'it has an empty or . segment'],
    ['a/', 'it has an empty or . segment'],
  ])('refuses %j: %s', (path, why) => {
    expect(unsafePathReason(path, '/tmp/out')).toBe(why);
  });
});
