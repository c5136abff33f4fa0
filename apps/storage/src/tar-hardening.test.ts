import type { Parser } from 'tar';
import { describe, expect, it } from 'vitest';
import { checkTarHardening, hardenParser, paxProblem } from './tar-hardening.js';

describe('checkTarHardening', () => {
  it('passes on the installed node-tar: it still calls both hooked methods', () => {
    expect(() => checkTarHardening()).not.toThrow();
  });

  it('fails loudly when node-tar no longer calls a hooked method', () => {
    // What an upgrade that reaches the method some other way looks like:
    // the hook is installed on the parser, and the parser runs its own.
    const bypassing = (description: string) => (parser: Parser, fail: (err: Error) => void) => {
      hardenParser(parser, fail);
      const key = Object.getOwnPropertySymbols(parser).find((s) => s.description === description)!;
      delete (parser as unknown as Record<symbol, unknown>)[key];
    };
    expect(() => checkTarHardening(bypassing('emitMeta'))).toThrow(/no longer calls the emitMeta hook/);
    expect(() => checkTarHardening(bypassing('consumeHeader'))).toThrow(/no longer calls the consumeHeader hook/);
  });
});

describe('paxProblem', () => {
  it('accepts well-formed records, multibyte ones included', () => {
    expect(paxProblem('')).toBeUndefined();
    expect(paxProblem('16 path=a/b.txt\n')).toBeUndefined();
    expect(paxProblem('21 path=résumé.txt\n17 size=12345678\n')).toBeUndefined();
  });
  it('names what is wrong with a malformed record', () => {
    expect(paxProblem('99 path=a.txt\n')).toMatch(/malformed/);
    expect(paxProblem('path=a.txt\n')).toMatch(/malformed/);
    expect(paxProblem('0 path=a.txt\n')).toMatch(/malformed/);
    expect(paxProblem('14 path=a.txt!')).toMatch(/malformed/);
    expect(paxProblem('16 path=a\nb.txt\n')).toMatch(/newline/);
    expect(paxProblem('11 noequal\n')).toMatch(/key=/);
    expect(paxProblem('9 =value\n')).toMatch(/key=/);
  });
});
