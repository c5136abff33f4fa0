import { isUtf8 } from 'node:buffer';
import { closeSync, constants, fstatSync, openSync, read, readSync, type Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { allocWithFrameRoom } from '@cloudai/proto';
import { Header, type HeaderData, Pax } from 'tar';

const BLOCK = 512;
const readAt = promisify(read);

/**
 * Files up to this size are read with blocking calls: open, fstat, read and
 * close through the thread pool cost four event-loop round trips per file,
 * which held node-tar's Pack to ~6,000 files/s here, while the four
 * syscalls themselves take microseconds on a warm folder.
 */
const SMALL_FILE_BYTES = 64 * 1024;
/** The longest run of blocking reads before the event loop gets a turn. */
const MAX_BLOCKING_MS = 10;

export interface PackHooks {
  /**
   * An entry was left out: a symbolic link, FIFO, socket or device, or a
   * name that is not UTF-8 (tar names are UTF-8 text; such a path is shown
   * with replacement characters).
   */
  onSkipped?(path: string, kind: string): void;
}

/**
 * Streams `folder` as a POSIX tar archive (ustar headers, PAX records for
 * long names and sizes over 8 GiB) in buffers of exactly `chunkBytes` (the
 * last may be shorter), reading file data straight into the buffer that is
 * sent: no intermediate copies, and memory holds only the chunks the
 * consumer has not taken yet. Nothing is read ahead of the consumer. Each
 * chunk has room in front of it for its message's prefix (see
 * @cloudai/proto's allocWithFrameRoom), so it goes out without a copy.
 *
 * Headers are node-tar's; the walk and the reads are ours. Folders come
 * before their contents, names in byte order. Regular files are sent by
 * content (a hard link is just another file). Symbolic links are never
 * followed (their targets are paths inside the container, and storage
 * refuses links), and neither they nor FIFOs, sockets and devices are sent:
 * each is reported through `hooks`, so one odd entry does not cost the
 * task all its outputs.
 */
export async function* packFolder(folder: string, chunkBytes: number, hooks: PackHooks = {}): AsyncGenerator<Buffer> {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) {
    throw new RangeError(`chunk size must be a positive integer, got ${chunkBytes}`);
  }
  const out = new ChunkWriter(chunkBytes);
  let blockingSince = performance.now();
  // The folder itself, as `tar -C folder -c .` starts: readers that call an
  // archive without entries unrecognized see a valid one.
  out.header({ path: './', type: 'Directory', size: 0, mode: 0o755 });
  // Depth first; a folder's entries are listed when the walk reaches it.
  const pending: string[] = [''];
  while (pending.length > 0) {
    const rel = pending.pop()!;
    // Names as bytes: sorted in byte order, and checked to be UTF-8.
    const entries = await readdir(join(folder, rel), { withFileTypes: true, encoding: 'buffer' });
    entries.sort((a, b) => Buffer.compare(a.name, b.name));
    const subfolders: string[] = [];
    for (const entry of entries) {
      const name = entry.name.toString();
      const path = rel === '' ? name : `${rel}/${name}`;
      const abs = join(folder, path);
      if (!isUtf8(entry.name)) {
        hooks.onSkipped?.(path, 'name that is not UTF-8');
      } else if (entry.isDirectory()) {
        out.header({ path: `${path}/`, type: 'Directory', size: 0, mode: 0o755 });
        subfolders.push(path);
      } else if (entry.isFile()) {
        yield* packFile(out, abs, path);
      } else {
        hooks.onSkipped?.(path, kindOf(entry));
      }
      yield* out.takeFull();
      if (performance.now() - blockingSince > MAX_BLOCKING_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        blockingSince = performance.now();
      }
    }
    // Reversed onto the stack so they are walked in name order.
    for (let i = subfolders.length - 1; i >= 0; i--) pending.push(subfolders[i]!);
    blockingSince = performance.now();
  }
  // End of archive: two zero blocks.
  out.zeros(2 * BLOCK);
  yield* out.takeFull();
  const last = out.takeRest();
  if (last) yield last;
}

async function* packFile(out: ChunkWriter, abs: string, path: string): AsyncGenerator<Buffer> {
  // O_NOFOLLOW: the entry was a file when listed; if a link replaced it
  // since, this fails rather than read wherever the link points.
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error(`${path} changed into a ${statKind(stat)} while its folder was packed`);
    const size = stat.size;
    // Whole seconds: node-tar cannot encode a fraction in the base-256 form
    // that times before 1970 or after 2242 need.
    const mtime = new Date(Math.floor(stat.mtimeMs / 1000) * 1000);
    out.header({ path, type: 'File', size, mode: stat.mode & 0o7777, mtime });
    let done = 0;
    while (done < size) {
      const { buffer, offset, length } = out.space(size - done);
      const n =
        size <= SMALL_FILE_BYTES
          ? readSync(fd, buffer, offset, length, done)
          : (await readAt(fd, buffer, offset, length, done)).bytesRead;
      if (n === 0) throw new Error(`${path} shrank from ${size} to ${done} bytes while it was packed`);
      out.advance(n);
      done += n;
      // Hand over each chunk as it fills: a big file is never held whole.
      yield* out.takeFull();
    }
    out.zeros((BLOCK - (size % BLOCK)) % BLOCK);
  } finally {
    closeSync(fd);
  }
}

/** Fills fixed-size chunks; the full ones wait in `ready` for the consumer. */
class ChunkWriter {
  private buf: Buffer;
  private pos = 0;
  private ready: Buffer[] = [];

  constructor(private readonly size: number) {
    this.buf = allocWithFrameRoom(size);
  }

  header(data: HeaderData): void {
    const header = new Header(data);
    if (header.encode()) {
      // A name longer than ustar's fields, or a size of 8 GiB or more: PAX
      // records carry them. A PAX record may legally hold a newline, but
      // node-tar (storage's reader) would drop it and keep the cut ustar
      // name; such a name goes as a GNU long-name entry instead, which
      // both node-tar and GNU tar read whole.
      const path = data.path ?? '';
      const longName = path.includes('\n');
      if (longName) this.gnuLongName(path);
      this.write(new Pax({ path: longName ? undefined : path, size: data.size, mtime: data.mtime }).encode());
    }
    this.write(header.block!);
  }

  private gnuLongName(path: string): void {
    const body = Buffer.from(`${path}\0`);
    const header = new Header({ path: '././@LongLink', type: 'NextFileHasLongPath', size: body.length, mode: 0o644, mtime: new Date(0) });
    header.encode();
    this.write(header.block!);
    this.write(body);
    this.zeros((BLOCK - (body.length % BLOCK)) % BLOCK);
  }

  write(bytes: Buffer): void {
    for (let at = 0; at < bytes.length; ) {
      const { buffer, offset, length } = this.space(bytes.length - at);
      bytes.copy(buffer, offset, at, at + length);
      this.advance(length);
      at += length;
    }
  }

  zeros(n: number): void {
    while (n > 0) {
      const { buffer, offset, length } = this.space(n);
      buffer.fill(0, offset, offset + length);
      this.advance(length);
      n -= length;
    }
  }

  /** Where the next up to `want` bytes go (at least one byte of room). */
  space(want: number): { buffer: Buffer; offset: number; length: number } {
    if (this.pos === this.size) this.rotate();
    return { buffer: this.buf, offset: this.pos, length: Math.min(want, this.size - this.pos) };
  }

  advance(n: number): void {
    this.pos += n;
    if (this.pos === this.size) this.rotate();
  }

  *takeFull(): Generator<Buffer> {
    while (this.ready.length > 0) yield this.ready.shift()!;
  }

  takeRest(): Buffer | undefined {
    return this.pos > 0 ? this.buf.subarray(0, this.pos) : undefined;
  }

  private rotate(): void {
    this.ready.push(this.buf);
    this.buf = allocWithFrameRoom(this.size);
    this.pos = 0;
  }
}

function kindOf(entry: {
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isBlockDevice(): boolean;
  isCharacterDevice(): boolean;
}): string {
  if (entry.isSymbolicLink()) return 'symbolic link';
  if (entry.isFIFO()) return 'FIFO';
  if (entry.isSocket()) return 'socket';
  if (entry.isBlockDevice()) return 'block device';
  if (entry.isCharacterDevice()) return 'character device';
  return 'special file';
}

function statKind(stat: Stats): string {
  return stat.isDirectory() ? 'folder' : kindOf(stat);
}
