import { invalidArgument } from '@cloudai/rpc';
import { Header, Parser, type ReadEntry } from 'tar';

/**
 * Installs the checks node-tar's parser cannot make itself on two of its
 * internal methods (found by symbol description; if a node-tar upgrade
 * renames them we fail loudly rather than lose the checks; if it stops
 * calling them, `checkTarHardening` does):
 * - `consumeHeader` sees each raw 512-byte header first. node-tar decodes a
 *   name up to the first NUL, so "ok.txt\0/../../etc/x" reads as "ok.txt";
 *   other tools may not agree, so a NUL followed by more name is refused.
 * - `emitMeta` sees each PAX header or GNU long name as it completes, with
 *   its type: the same NUL rule for long names, and PAX records must be well
 *   formed (see `paxProblem`).
 * Each refusal is reported through `fail`; the parser itself goes on.
 */
export function hardenParser(parser: Parser, fail: (err: Error) => void): void {
  const target = parser as unknown as Record<symbol, unknown>;
  const consumeHeader = internalSymbol(Parser.prototype, 'consumeHeader');
  const emitMeta = internalSymbol(Parser.prototype, 'emitMeta');
  const meta = internalSymbol(parser, 'meta');
  const originalConsumeHeader = target[consumeHeader] as (chunk: Buffer, position: number) => unknown;
  const originalEmitMeta = target[emitMeta] as (entry: ReadEntry) => unknown;
  if (typeof originalConsumeHeader !== 'function' || typeof originalEmitMeta !== 'function') {
    throw new Error('node-tar Parser internals changed; update tar-hardening.ts for this tar version');
  }
  target[consumeHeader] = function (this: Parser, chunk: Buffer, position: number) {
    if (hasEmbeddedNul(chunk, position, 0, 100)) {
      fail(invalidArgument('a tar entry name contains a NUL byte'));
    } else if (chunk.subarray(position + 257, position + 265).toString('latin1') === 'ustar\u000000') {
      // POSIX ustar prefix field: 155 bytes, or 130 when node-tar reads
      // atime/ctime from its tail (as the parser itself decides).
      const prefixLen = chunk[position + 475] !== 0 ? 155 : 130;
      if (hasEmbeddedNul(chunk, position, 345, prefixLen)) fail(invalidArgument('a tar entry name contains a NUL byte'));
    }
    return originalConsumeHeader.call(this, chunk, position);
  };
  target[emitMeta] = function (this: Parser, entry: ReadEntry) {
    const text = String((this as unknown as Record<symbol, unknown>)[meta] ?? '');
    // Decoded up to the first NUL: a NUL followed by more text means two
    // tools would read two different names.
    if (text.replace(/\0+$/, '').includes('\0')) {
      fail(invalidArgument('a tar entry name contains a NUL byte'));
    } else if (entry.type === 'ExtendedHeader' || entry.type === 'OldExtendedHeader' || entry.type === 'GlobalExtendedHeader') {
      const problem = paxProblem(text);
      if (problem) fail(invalidArgument(`a tar PAX header ${problem}`));
    }
    return originalEmitMeta.call(this, entry);
  };
}

/**
 * Runs one hostile archive per hooked method through a parser hardened by
 * `harden` and throws unless each is refused. node-tar reaches those
 * methods through internals no API promises, so an upgrade that calls them
 * some other way would switch the checks off without a sound; storage runs
 * this before serving (and a test runs it on the installed node-tar).
 */
export function checkTarHardening(harden: typeof hardenParser = hardenParser): void {
  const nulName = entryHeader('ok.txt\0/../escaped', 'File', 0);
  const badPax = Buffer.from('99 path=a.txt\n');
  const probes = [
    { method: 'consumeHeader', what: 'a NUL inside a ustar name', archive: [nulName] },
    {
      method: 'emitMeta',
      what: 'a malformed PAX record',
      archive: [entryHeader('PaxHeader', 'ExtendedHeader', badPax.length), padded(badPax), entryHeader('a.txt', 'File', 0)],
    },
  ];
  for (const { method, what, archive } of probes) {
    const parser = new Parser({ strict: true });
    let refused = false;
    harden(parser, () => (refused = true));
    // Whatever node-tar itself makes of the probe is beside the point here.
    parser.on('error', () => {});
    parser.on('entry', (entry: ReadEntry) => entry.resume());
    // Uncompressed input is parsed synchronously, within end().
    parser.end(Buffer.concat([...archive, Buffer.alloc(1024)]));
    if (!refused) {
      throw new Error(
        `the installed node-tar let ${what} through: it no longer calls the ${method} hook of tar-hardening.ts, ` +
          'so the tar entry checks are off; keep tar at the version pinned in pnpm-workspace.yaml or update the hook',
      );
    }
  }
}

function internalSymbol(from: object, description: string): symbol {
  const key = Object.getOwnPropertySymbols(from).find((s) => s.description === description);
  if (!key) throw new Error(`node-tar Parser has no ${description}; update tar-hardening.ts for this tar version`);
  return key;
}

function entryHeader(path: string, type: 'File' | 'ExtendedHeader', size: number): Buffer {
  const header = new Header({ path, type, size, mode: 0o644, mtime: new Date(0) });
  header.encode();
  return header.block!;
}

function padded(data: Buffer): Buffer {
  const out = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(out);
  return out;
}

function hasEmbeddedNul(buf: Buffer, base: number, offset: number, length: number): boolean {
  const field = buf.subarray(base + offset, base + offset + length);
  const nul = field.indexOf(0);
  if (nul < 0) return false;
  for (let i = nul + 1; i < field.length; i++) if (field[i] !== 0) return true;
  return false;
}

/**
 * Why a PAX header's records (`<length> <key>=<value>\n`, the length in
 * bytes and counting itself) are not well formed, or undefined when they
 * are. node-tar reads them line by line and silently skips a record whose
 * length does not match its line, so a value holding a newline would be
 * dropped and the entry stored under its truncated ustar name instead.
 */
export function paxProblem(text: string): string | undefined {
  const bytes = Buffer.from(text.replace(/\0+$/, ''), 'utf8');
  for (let at = 0; at < bytes.length; ) {
    const space = bytes.indexOf(0x20, at);
    const digits = space < 0 ? '' : bytes.toString('latin1', at, space);
    const length = /^[1-9][0-9]{0,9}$/.test(digits) ? Number(digits) : NaN;
    const end = at + length;
    if (!(end > space + 1 && end <= bytes.length) || bytes[end - 1] !== 0x0a) {
      return 'has a malformed record (its length does not match)';
    }
    const record = bytes.subarray(space + 1, end - 1);
    if (record.includes(0x0a)) return 'has a record holding a newline, which tar readers disagree on';
    if (record.indexOf(0x3d) < 1) return 'has a record without "key="';
    at = end;
  }
  return undefined;
}
