import { describe, expect, it } from 'vitest';
import { MAX_PATH_SEGMENT_BYTES as MAX_SEGMENT_BYTES } from '@cloudai/domain';
import { sanitizeSegment, taskDir } from './paths.js';

describe('sanitizeSegment', () => {
  it('keeps ordinary names as typed', () => {
    expect(sanitizeSegment('alice')).toBe('alice');
    expect(sanitizeSegment('my-experiment_2 (v1)')).toBe('my-experiment_2 (v1)');
    expect(sanitizeSegment('模型训练')).toBe('模型训练');
  });

  it('never yields a separator, NUL, control character, or a leading dot', () => {
    for (const name of ['../x', 'a/b', 'a\\b', 'a\0b', '.', '..', '', '.incoming', 'x\ny', 'a\u202eb', '/']) {
      const s = sanitizeSegment(name);
      expect(s).not.toMatch(/[/\\\0\n\u202e]/);
      expect(s.startsWith('.')).toBe(false);
      expect(s.length).toBeGreaterThan(0);
    }
    expect(sanitizeSegment('../x')).toMatch(/^_\._x~[0-9a-f]{8}$/);
    expect(sanitizeSegment('..')).toMatch(/^_\.~[0-9a-f]{8}$/);
  });

  it('keeps names that sanitize alike apart with a hash suffix', () => {
    expect(sanitizeSegment('a/b')).toMatch(/^a_b~[0-9a-f]{8}$/);
    expect(sanitizeSegment('a/b')).not.toBe(sanitizeSegment('a_b'));
    expect(sanitizeSegment('a/b')).not.toBe(sanitizeSegment('a\\b'));
    expect(sanitizeSegment('a/b')).toBe(sanitizeSegment('a/b'));
  });

  it('treats Unicode-equivalent spellings as one name', () => {
    expect(sanitizeSegment('caf\u0065\u0301')).toBe(sanitizeSegment('caf\u00e9'));
    expect(sanitizeSegment('caf\u0065\u0301')).toBe('caf\u00e9');
  });

  it('caps at 255 bytes without splitting a character, and stays distinct', () => {
    const long1 = 'é'.repeat(300);
    const long2 = `${'é'.repeat(299)}e`;
    const s1 = sanitizeSegment(long1);
    expect(Buffer.byteLength(s1)).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
    expect(s1).not.toContain('\ufffd');
    expect(s1).toMatch(/~[0-9a-f]{8}$/);
    expect(s1).not.toBe(sanitizeSegment(long2));
    expect(sanitizeSegment('x'.repeat(255))).toBe('x'.repeat(255));
  });
});

describe('taskDir', () => {
  it('is <user>/<task_name>/<unix seconds>/<task_id>', () => {
    const at = new Date('2025-01-02T03:04:05.678Z');
    expect(taskDir('alice', 'train', at, '0190-abc')).toBe(`alice/train/${Math.floor(at.getTime() / 1000)}/0190-abc`);
  });

  it('has exactly four segments whatever the names hold', () => {
    const dir = taskDir('../../root', 'a/b/../c', new Date(0), '../t');
    expect(dir.split('/')).toHaveLength(4);
    expect(dir.split('/')).not.toContain('..');
    expect(dir.split('/')[2]).toBe('0');
  });

  it('refuses an invalid date', () => {
    expect(() => taskDir('u', 't', new Date(Number.NaN), 'id')).toThrow(/not a valid date/);
  });
});
