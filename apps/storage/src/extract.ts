import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { constants, mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidArgument, resourceExhausted } from '@cloudai/rpc';
import { Parser, type ReadEntry } from 'tar';

export interface ExtractLimits {
  /** total bytes of file content per upload */
  maxBytes: number;
  /** regular files per upload; folders are bounded by the same number, separately */
  maxFiles: number;
  /** path segments per entry ("a/b/c.txt" is 3) */
  maxDepth: number;
}

export interface ExtractOptions {
  signal?: AbortSignal;
  /**
   * Start writing a large file back to disk every this many bytes
   * (fdatasync in the background while the next bytes arrive), so that the
   * flush before the acknowledgement finds little left to do. Off when
   * undefined: nothing is flushed before the acknowledgement anyway.
   */
  writebackBytes?: number;
}

export interface ExtractedFile {
  /** relative, '/'-separated, without "." segments */
  path: string;
  size: number;
  /** lowercase hex */
  sha256: string;
}

export interface Extracted {
  /** the temporary folder holding the extracted tree */
  dir: string;
  files: ExtractedFile[];
  totalBytes: number;
}

/** PATH_MAX on Linux: a longer relative path could not be opened anyway. */
export const MAX_PATH_BYTES = 4096;
const MAX_SEGMENT_BYTES = 255;

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

/**
 * Creates the file, failing if anything (file, folder, dangling link) is
 * already there, and never following a link in the last component: the
 * O_CREAT|O_EXCL|O_NOFOLLOW rule for writing names that came off the wire.
 */
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/**
 * Files up to this size are collected and written with one synchronous
 * open/write/close: three thread-pool round trips per file would otherwise
 * dominate outputs of many small files, and a 64 KiB write blocks the loop
 * for microseconds.
 */
const SMALL_FILE_BYTES = 64 * 1024;

/**
 * Reads a tar stream into a fresh folder under `incomingDir`, treating every
 * entry as hostile. On any failure the folder is removed before the error
 * is rethrown, so nothing half-written outlives the call.
 */
export async function extractToIncoming(
  source: AsyncIterable<Uint8Array>,
  incomingDir: string,
  limits: ExtractLimits,
  options: ExtractOptions = {},
): Promise<Extracted> {
  const dir = await mkdtemp(join(incomingDir, 'upload-'));
  try {
    const files = await extractTar(source, dir, limits, options);
    return { dir, files, totalBytes: files.reduce((sum, f) => sum + f.size, 0) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Streams `source` through node-tar's Parser into `dir` (which must exist
 * and be empty). Only regular files and folders are accepted; links,
 * devices, FIFOs and unknown types fail the whole upload, as do unsafe
 * paths, a file that appears twice, and quota overruns. The next chunk is
 * not read from `source` until the parser and the file being written have
 * drained, so memory stays flat whatever the upload's size.
 */
export async function extractTar(
  source: AsyncIterable<Uint8Array>,
  dir: string,
  limits: ExtractLimits,
  { signal, writebackBytes }: ExtractOptions = {},
): Promise<ExtractedFile[]> {
  // Compressed input is refused outright: the parser would inflate it
  // without backpressure, so a small bomb could fill memory before the
  // byte quota ever sees it. Workers send plain tar.
  const parser = new Parser({ strict: true, zstd: false, brotli: false });

  let failure: Error | undefined;
  let rejectFailed!: (err: Error) => void;
  const failed = new Promise<never>((_, reject) => (rejectFailed = reject));
  failed.catch(() => {}); // observed through `failure`; never unhandled
  let current: ReadEntry | undefined;
  // Wakes the feeder waiting for the parser to drain (see `drainedOrFailed`).
  let wakeFeeder: (() => void) | undefined;
  const fail = (err: Error) => {
    if (failure) return;
    failure = err;
    rejectFailed(err);
    wakeFeeder?.();
    // Unblocks a handler waiting for body bytes that will never come.
    current?.destroy();
  };

  hookParser(parser, fail);

  let sawEof = false;
  let entriesSeen = 0;
  parser.on('eof', () => (sawEof = true));
  parser.on('ignoredEntry', () => fail(invalidArgument('a tar metadata entry is larger than 1 MiB')));
  parser.on('error', (err: Error & { tarCode?: string }) => {
    // An archive of zero entries (just the end-of-archive blocks) is valid
    // tar, though node-tar calls it "unrecognized".
    if (err.tarCode === 'TAR_BAD_ARCHIVE' && sawEof && entriesSeen === 0) return;
    fail(invalidArgument(`truncated or corrupt tar stream: ${err.message}`));
  });

  const files: ExtractedFile[] = [];
  const paths = new Set<string>();
  let totalBytes = 0;
  let dirCount = 0;
  // Folders this extraction has made: nothing else writes in `dir`, so one
  // that exists stays, and the thousands of files of one folder cost no
  // further mkdir (a thread-pool round trip each).
  const made = new Set<string>();
  const ensureDir = async (path: string, shown: string) => {
    if (made.has(path)) return;
    await mkdirInside(path, shown);
    made.add(path);
  };

  // An entry's bytes, ending with the upload's failure if it fails first:
  // a destroyed entry's iterator resolves a read already waiting, but one
  // asked for afterwards would wait forever (and keep its file open). The
  // check and the next read happen in one synchronous step, so no failure
  // slips between them. (Not a race against `failed`: each race would hang
  // a reaction holding its chunk on that promise until the upload ends.)
  async function* bodyOf(entry: ReadEntry): AsyncGenerator<Buffer> {
    const it = (entry as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    for (;;) {
      if (failure) throw failure;
      const next = await it.next();
      if (next.done) return;
      yield next.value;
    }
  }

  const handleEntry = async (entry: ReadEntry): Promise<void> => {
    const shown = JSON.stringify(entry.path);
    const isFile = FILE_TYPES.has(entry.type);
    if (!isFile && entry.type !== 'Directory') {
      throw invalidArgument(`tar entry ${shown} is a ${entry.type}; only regular files and folders are accepted`);
    }
    const segments = safeSegments(entry.path, limits.maxDepth);
    if (!isFile) {
      entry.resume();
      if (segments.length === 0) return; // "./": the task's folder itself
      if (++dirCount > limits.maxFiles) {
        throw resourceExhausted(`outputs exceed the quota of ${limits.maxFiles} folders`);
      }
      await ensureDir(join(dir, ...segments), shown);
      return;
    }
    if (segments.length === 0) throw invalidArgument(`tar entry ${shown} is a file without a name`);
    const rel = segments.join('/');
    if (paths.has(rel)) throw invalidArgument(`tar entry ${shown} appears twice`);
    paths.add(rel);
    if (files.length + 1 > limits.maxFiles) {
      throw resourceExhausted(`outputs exceed the quota of ${limits.maxFiles} files`);
    }
    // The header states the size: refuse before writing a byte of it.
    if (totalBytes + entry.size > limits.maxBytes) {
      throw resourceExhausted(`outputs exceed the quota of ${limits.maxBytes} bytes`);
    }
    const target = join(dir, ...segments);
    if (segments.length > 1) await ensureDir(dirname(target), shown);
    const clash = (err: NodeJS.ErrnoException) =>
      err.code === 'EEXIST' || err.code === 'ENOTDIR' || err.code === 'EISDIR'
        ? invalidArgument(`tar entry ${shown} clashes with an earlier entry`)
        : err;
    const hash = createHash('sha256');
    let size = 0;
    const account = (chunk: Buffer) => {
      size += chunk.length;
      totalBytes += chunk.length;
      // Counted as bytes arrive too, in case the body outgrows its header.
      if (totalBytes > limits.maxBytes) {
        throw resourceExhausted(`outputs exceed the quota of ${limits.maxBytes} bytes`);
      }
      hash.update(chunk);
    };
    if (entry.size <= SMALL_FILE_BYTES) {
      const parts: Buffer[] = [];
      for await (const chunk of bodyOf(entry)) {
        account(chunk);
        if (size > SMALL_FILE_BYTES) throw invalidArgument(`truncated or corrupt tar stream: ${shown} outgrew its header`);
        parts.push(chunk);
      }
      let fd: number;
      try {
        fd = openSync(target, CREATE_NEW, 0o644);
      } catch (err) {
        throw clash(err as NodeJS.ErrnoException);
      }
      try {
        for (const part of parts) {
          for (let at = 0; at < part.length; ) at += writeSync(fd, part, at);
        }
      } finally {
        closeSync(fd);
      }
    } else {
      const fh = await open(target, CREATE_NEW, 0o644).catch((err: NodeJS.ErrnoException) => {
        throw clash(err);
      });
      // One background fdatasync at a time; its failure fails the upload.
      let writeback: Promise<void> | undefined;
      let writebackError: unknown;
      let unflushed = 0;
      try {
        for await (const chunk of bodyOf(entry)) {
          account(chunk);
          // A write may take fewer bytes than asked (a filesystem near full).
          for (let at = 0; at < chunk.length; ) {
            const { bytesWritten } = await fh.write(chunk, at, chunk.length - at);
            if (bytesWritten === 0) throw new Error(`could not write ${shown}: the filesystem accepted no more bytes`);
            at += bytesWritten;
          }
          if (writebackError) throw writebackError;
          unflushed += chunk.length;
          if (writebackBytes !== undefined && unflushed >= writebackBytes && !writeback) {
            unflushed = 0;
            writeback = fh
              .datasync()
              .catch((err: unknown) => void (writebackError ??= err))
              .finally(() => (writeback = undefined));
          }
        }
        await writeback;
        if (writebackError) throw writebackError;
      } finally {
        await writeback;
        await fh.close();
      }
    }
    if (size !== entry.size) {
      throw invalidArgument(`truncated or corrupt tar stream: ${shown} ended after ${size} of ${entry.size} bytes`);
    }
    files.push({ path: rel, size, sha256: hash.digest('hex') });
  };

  // Entries are handled strictly one after another: the parser emits the
  // next one only when this one's body has been read, and the chain keeps a
  // slow file close from overlapping the next entry's checks.
  let chain: Promise<void> = Promise.resolve();
  parser.on('entry', (entry: ReadEntry) => {
    entriesSeen++;
    chain = chain.then(async () => {
      if (failure) return;
      current = entry;
      await handleEntry(entry);
      current = undefined;
    });
    chain.catch((err: Error) => fail(err));
  });

  // Plain listeners, not events.once: that would reject on the parser's
  // 'error', which `fail` has already turned into a clear reason.
  const ended = new Promise<void>((resolve) => parser.once('end', () => resolve()));
  // Resolves on the parser's next drain or on failure; not a race against
  // `failed`, which would leave one reaction per wait on that promise.
  const drainedOrFailed = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        parser.off('drain', done);
        wakeFeeder = undefined;
        resolve();
      };
      parser.once('drain', done);
      wakeFeeder = done;
    });
  let first = true;
  try {
    for await (const chunk of source) {
      if (signal?.aborted) throw signal.reason;
      if (failure) break;
      if (chunk.length === 0) continue;
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (first) {
        first = false;
        if (isCompressed(buf)) throw invalidArgument('compressed tar streams are not accepted; send a plain tar');
      }
      if (!parser.write(buf) && !failure) {
        await drainedOrFailed();
      }
      if (failure) break;
    }
    if (failure) throw failure;
    parser.end();
    await Promise.race([ended, failed]);
    await Promise.race([chain, failed]);
    if (failure) throw failure;
  } catch (err) {
    // Whatever ended the upload early (a refusal, a cut stream, an abort),
    // the entry being written is destroyed and its handler closes its file
    // before the caller removes the folder: an open descriptor would keep
    // the deleted file's space until the process exits.
    fail(err as Error);
    await chain.catch(() => {});
    throw err;
  }
  // A stream cut exactly between entries parses cleanly; only the
  // end-of-archive blocks prove the sender finished.
  if (!sawEof) throw invalidArgument('truncated or corrupt tar stream: it ended before the end-of-archive marker');
  return files;
}

/**
 * The entry's path as validated segments: relative, no "..", no NUL or
 * backslash, no drive letter, each segment ≤ 255 bytes, the whole ≤ 4096
 * bytes and at most `maxDepth` deep. "." and empty segments are dropped.
 */
export function safeSegments(path: string, maxDepth: number): string[] {
  const shown = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
  if (path.includes('\0')) throw invalidArgument(`tar entry ${shown} contains a NUL byte`);
  if (path.startsWith('/')) throw invalidArgument(`tar entry ${shown} is an absolute path`);
  // Backslashes are separators on Windows, where these files may be
  // downloaded to; a drive letter would make the path absolute there.
  if (path.includes('\\')) throw invalidArgument(`tar entry ${shown} contains a backslash`);
  if (/^[A-Za-z]:/.test(path)) throw invalidArgument(`tar entry ${shown} starts with a drive letter`);
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw invalidArgument(`tar entry ${shown} is longer than ${MAX_PATH_BYTES} bytes`);
  }
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw invalidArgument(`tar entry ${shown} contains a ".." segment`);
  if (segments.length > maxDepth) {
    throw invalidArgument(`tar entry ${shown} is nested ${segments.length} levels deep; the limit is ${maxDepth}`);
  }
  for (const s of segments) {
    if (Buffer.byteLength(s) > MAX_SEGMENT_BYTES) {
      throw invalidArgument(`tar entry ${shown} has a name longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
  }
  return segments;
}

async function mkdirInside(path: string, shown: string): Promise<void> {
  // The temporary folder is ours and no link is ever created in it, so a
  // recursive mkdir cannot be steered outside; a file in the way is a clash.
  await mkdir(path, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'EEXIST' || err.code === 'ENOTDIR'
      ? invalidArgument(`tar entry ${shown} clashes with an earlier entry`)
      : err;
  });
}

function isCompressed(buf: Buffer): boolean {
  const gzip = buf[0] === 0x1f && buf[1] === 0x8b;
  const zstd = buf[0] === 0x28 && buf[1] === 0xb5 && buf[2] === 0x2f && buf[3] === 0xfd;
  return gzip || zstd;
}

/**
 * Checks node-tar's parser cannot make itself, installed on two of its
 * internal methods (found by symbol description; if a node-tar upgrade
 * renames them we fail loudly rather than lose the checks):
 * - `consumeHeader` sees each raw 512-byte header first. node-tar decodes a
 *   name up to the first NUL, so "ok.txt\0/../../etc/x" reads as "ok.txt";
 *   other tools may not agree, so a NUL followed by more name is refused.
 * - `emitMeta` sees each PAX header or GNU long name as it completes, with
 *   its type: the same NUL rule for long names, and PAX records must be well
 *   formed (see `paxProblem`).
 */
function hookParser(parser: Parser, fail: (err: Error) => void): void {
  const target = parser as unknown as Record<symbol, unknown>;
  const internal = (from: object, description: string): symbol => {
    const key = Object.getOwnPropertySymbols(from).find((s) => s.description === description);
    if (!key) throw new Error(`node-tar Parser has no ${description}; update extract.ts for this tar version`);
    return key;
  };
  const consumeHeader = internal(Parser.prototype, 'consumeHeader');
  const emitMeta = internal(Parser.prototype, 'emitMeta');
  const meta = internal(parser, 'meta');
  const originalConsumeHeader = target[consumeHeader] as (chunk: Buffer, position: number) => unknown;
  const originalEmitMeta = target[emitMeta] as (entry: ReadEntry) => unknown;
  if (typeof originalConsumeHeader !== 'function' || typeof originalEmitMeta !== 'function') {
    throw new Error('node-tar Parser internals changed; update extract.ts for this tar version');
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
