import { closeSync, openSync, writeSync } from 'node:fs';
import { constants, open, type FileHandle } from 'node:fs/promises';
import { invalidArgument } from '@cloudai/rpc';

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

export interface FileSinkOptions {
  /**
   * Start writing a large file back to disk every this many bytes
   * (fdatasync in the background while the next bytes arrive), so that the
   * flush before the acknowledgement finds little left to do. Off when
   * undefined: nothing is flushed before the acknowledgement anyway.
   */
  writebackBytes?: number | undefined;
  /**
   * Flushes a file's data for that writeback: fdatasync(2) unless given.
   * Given by tests, to see when writeback happens.
   */
  datasync?: ((file: FileHandle) => Promise<void>) | undefined;
  /**
   * Told of each chunk of `body` once it is written, in order: the writer
   * holds neither it nor any chunk before it any more (extract.ts then
   * releases the messages they came in).
   */
  written?: ((chunk: Buffer) => void) | undefined;
}

const fdatasync = (file: FileHandle) => file.datasync();

/**
 * Writes one tar entry's bytes, as `body` yields them, to a new file at
 * `target`; `declaredSize` is the size its header states and `shown` names
 * the entry in errors. Something already at `target` is a clash with an
 * earlier entry. Checking that the body matched its header is the caller's.
 * A large file's chunk is written while the next one arrives (and is hashed
 * by the caller), one write in flight at a time, in order.
 */
export async function writeNewFile(
  target: string,
  declaredSize: number,
  body: AsyncIterable<Buffer>,
  shown: string,
  { writebackBytes, datasync = fdatasync, written }: FileSinkOptions = {},
): Promise<void> {
  const clash = (err: NodeJS.ErrnoException) =>
    err.code === 'EEXIST' || err.code === 'ENOTDIR' || err.code === 'EISDIR'
      ? invalidArgument(`tar entry ${shown} clashes with an earlier entry`)
      : err;
  if (declaredSize <= SMALL_FILE_BYTES) {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.length;
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
    if (parts.length > 0) written?.(parts[parts.length - 1]!);
    return;
  }
  const fh = await open(target, CREATE_NEW, 0o644).catch((err: NodeJS.ErrnoException) => {
    throw clash(err);
  });
  // One background flush at a time; its failure fails the upload.
  let writeback: Promise<void> | undefined;
  let writebackError: unknown;
  let unflushed = 0;
  // The write of the previous chunk, running while this one arrives; its
  // failure is kept (a rejection nobody awaits yet would be unhandled).
  let writing: Promise<void> | undefined;
  let writeError: unknown;
  try {
    for await (const chunk of body) {
      await writing;
      if (writeError) throw writeError;
      writing = writeAll(fh, chunk, shown).then(
        () => written?.(chunk),
        (err: unknown) => void (writeError ??= err),
      );
      if (writebackError) throw writebackError;
      unflushed += chunk.length;
      if (writebackBytes !== undefined && unflushed >= writebackBytes && !writeback) {
        unflushed = 0;
        writeback = datasync(fh)
          .catch((err: unknown) => void (writebackError ??= err))
          .finally(() => (writeback = undefined));
      }
    }
    await writing;
    if (writeError) throw writeError;
    await writeback;
    if (writebackError) throw writebackError;
  } finally {
    // Never close the file under a write or a flush.
    await writing;
    await writeback;
    await fh.close();
  }
}

/** All of `chunk`; a write may take fewer bytes than asked (a filesystem near full). */
async function writeAll(fh: FileHandle, chunk: Buffer, shown: string): Promise<void> {
  for (let at = 0; at < chunk.length; ) {
    const { bytesWritten } = await fh.write(chunk, at, chunk.length - at);
    if (bytesWritten === 0) throw new Error(`could not write ${shown}: the filesystem accepted no more bytes`);
    at += bytesWritten;
  }
}
