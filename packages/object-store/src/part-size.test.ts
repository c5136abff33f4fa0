import { describe, expect, it } from 'vitest';
import { DEFAULT_PART_SIZE, partSizeFor, S3_LIMITS } from './part-size.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('partSizeFor', () => {
  it('keeps the preferred size while 10,000 parts of it hold the object', () => {
    for (const size of [0, 1, 5 * MiB, DEFAULT_PART_SIZE + 1, GiB, 10_000 * DEFAULT_PART_SIZE]) {
      expect(partSizeFor(size)).toBe(DEFAULT_PART_SIZE);
    }
    expect(partSizeFor(GiB, 16 * MiB)).toBe(16 * MiB);
  });

  it('grows in whole MiB beyond that, so the parts stay within 10,000', () => {
    expect(partSizeFor(10_000 * DEFAULT_PART_SIZE + 1)).toBe(DEFAULT_PART_SIZE + MiB);
    // the case: 200 GiB in 21 MiB parts, 9,753 of them
    expect(partSizeFor(200 * GiB)).toBe(21 * MiB);
    expect(Math.ceil((200 * GiB) / partSizeFor(200 * GiB))).toBe(9_753);
  });

  it('holds S3 limits for every size up to the largest object', () => {
    for (const size of [1, 7 * GiB, 49 * GiB, 78 * GiB + 3, 200 * GiB, 1024 * GiB, S3_LIMITS.maxObjectSize - 1, S3_LIMITS.maxObjectSize]) {
      const part = partSizeFor(size);
      expect(part).toBeGreaterThanOrEqual(S3_LIMITS.minPartSize);
      expect(part).toBeLessThanOrEqual(S3_LIMITS.maxPartSize);
      expect(part % MiB).toBe(0);
      expect(Math.ceil(size / part)).toBeLessThanOrEqual(S3_LIMITS.maxParts);
    }
  });

  it('refuses what S3 cannot store and preferred sizes it does not allow', () => {
    expect(() => partSizeFor(S3_LIMITS.maxObjectSize + 1)).toThrow(/exceeds S3's largest object/);
    expect(() => partSizeFor(-1)).toThrow(/whole number of bytes >= 0/);
    expect(() => partSizeFor(1.5)).toThrow(/whole number of bytes >= 0/);
    expect(() => partSizeFor(GiB, 4 * MiB)).toThrow(/\[5 MiB, 5 GiB\]/);
    expect(() => partSizeFor(GiB, 6 * GiB)).toThrow(/\[5 MiB, 5 GiB\]/);
  });
});
