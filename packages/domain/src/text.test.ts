import { describe, expect, it } from 'vitest';
import { quoted, reportedText, utf8ByteLength } from './text.js';

describe('quoted', () => {
  it('JSON-quotes a value, so control characters show as escapes', () => {
    expect(quoted('a\u0000b\u001b')).toBe('"a\\u0000b\\u001b"');
  });

  it('quotes a long value cut, with its length, so a message stays short', () => {
    expect(quoted('x'.repeat(1024 * 1024))).toBe(`"${'x'.repeat(64)}"… (1048576 characters)`);
  });
});

describe('reportedText', () => {
  it('replaces each control character but TAB with a space', () => {
    expect(reportedText('exit 1:\nno such file\u001b[2J\u009b\u0000\tend', 100)).toBe('exit 1: no such file [2J  \tend');
  });

  it('cuts to the limit, never between the halves of a surrogate pair', () => {
    expect(reportedText('x'.repeat(10), 4)).toBe('xxxx');
    expect(reportedText('ab😀c', 3)).toBe('ab');
  });
});

describe('utf8ByteLength', () => {
  it('counts as Buffer.byteLength does, lone surrogates included', () => {
    for (const s of ['', 'abc', 'é', '€', '😀', 'a😀b', '\ud83d', 'x\ude00y', '\ud83d\ud83d', 'A=\u0000é€😀']) {
      expect(utf8ByteLength(s), JSON.stringify(s)).toBe(Buffer.byteLength(s));
    }
  });
});
