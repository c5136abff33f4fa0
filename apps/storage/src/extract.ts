import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidArgument, resourceExhausted, youngCollector } from '@cloudai/rpc';
import { Parser, type ReadEntry } from 'tar';
import type { EntrySink } from './backends/entry-sink.js';
import { ChunkReleaser } from './chunk-releaser.js';
import { writeNewFile, type FileSinkOptions } from './file-sink.js';
import { hashThread } from './hash-thread.js';
import { safeSegments } from './paths.js';
import { hardenParser } from './tar-hardening.js';

export interface ExtractLimits {
  /** total bytes of file content per upload */
  maxBytes: number;
  /** regular files per upload; folders are bounded by the same number, separately */
  maxFiles: number;
  /** path segments per entry ("a/b/c.txt" is 3) */
  maxDepth: number;
}

export interface ExtractOptions extends FileSinkOptions {
  signal?: AbortSignal;
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

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

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
 * Streams `source` through node-tar's Parser into `into`: a folder (which
 * must exist and be empty) or a backend's sink (which then hashes the
 * files). Only regular files and folders are accepted; links,
 * devices, FIFOs and unknown types fail the whole upload, as do unsafe
 * paths, a file that appears twice, and quota overruns. The next chunk is
 * not read from `source` until the parser and the file being written have
 * drained, and each message is released as soon as the extraction is past
 * it (see ChunkReleaser), so memory stays flat whatever the upload's size.
 */
export async function extractTar(
  source: AsyncIterable<Uint8Array>,
  into: string | EntrySink,
  limits: ExtractLimits,
  { signal, ...sink }: ExtractOptions = {},
): Promise<ExtractedFile[]> {
  const entries = typeof into === 'string' ? undefined : into;
  const dir = typeof into === 'string' ? into : '';
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

  hardenParser(parser, fail);

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

  const releaser = new ChunkReleaser();
  // What the releaser cannot reach (the socket's read buffers the messages
  // were gathered from) is collected every few MiB instead.
  const collectYoung = youngCollector();
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
  // Each chunk is shown to `account` before it is handed on. A sink (which
  // keeps no chunk once it asks for the next) is done with a chunk when it
  // asks for the next; the file writer says so itself (`written`).
  // `caughtUp` holds the next read back while the hash thread lags.
  async function* bodyOf(entry: ReadEntry, account: (chunk: Buffer) => void, caughtUp?: () => Promise<void>): AsyncGenerator<Buffer> {
    const it = (entry as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    for (;;) {
      if (failure) throw failure;
      await caughtUp?.();
      const next = await it.next();
      if (next.done) return;
      account(next.value);
      yield next.value;
      if (entries) releaser.doneWith(next.value);
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
      if (entries) await entries.makeDir(segments.join('/'), shown);
      else await ensureDir(join(dir, ...segments), shown);
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
    if (!entries && segments.length > 1) await ensureDir(dirname(target), shown);
    const hash = entries ? undefined : hashThread.forFile(entry.size);
    let size = 0;
    const account = (chunk: Buffer) => {
      size += chunk.length;
      totalBytes += chunk.length;
      // Counted as bytes arrive too, in case the body outgrows its header.
      if (totalBytes > limits.maxBytes) {
        throw resourceExhausted(`outputs exceed the quota of ${limits.maxBytes} bytes`);
      }
      hash?.update(chunk);
    };
    let sha256 = '';
    if (entries) {
      sha256 = (await entries.writeFile(rel, entry.size, bodyOf(entry, account), shown)).sha256;
    } else {
      try {
        const body = bodyOf(entry, account, hash?.caughtUp);
        await writeNewFile(target, entry.size, body, shown, { ...sink, written: (chunk) => releaser.doneWith(chunk) });
      } catch (err) {
        hash?.drop();
        throw err;
      }
    }
    if (size !== entry.size) {
      hash?.drop();
      throw invalidArgument(`truncated or corrupt tar stream: ${shown} ended after ${size} of ${entry.size} bytes`);
    }
    if (hash) sha256 = await hash.digest();
    files.push({ path: rel, size, sha256 });
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
      releaser.received(chunk);
      collectYoung(chunk.length);
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
  } finally {
    // Every entry has been stored or destroyed: nothing reads a message now.
    releaser.releaseAll();
  }
  // A stream cut exactly between entries parses cleanly; only the
  // end-of-archive blocks prove the sender finished.
  if (!sawEof) throw invalidArgument('truncated or corrupt tar stream: it ended before the end-of-archive marker');
  return files;
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
