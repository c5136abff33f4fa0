import { chmod, mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ID_PATTERN, MAX_LOG_CHUNK_BYTES } from '@cloudai/domain';
import type { LogChunk, LogStream } from '@cloudai/proto';
import { releaseChunk } from '@cloudai/rpc';

/**
 * A record on disk: seq u32, stream u8, flags u8 (1 = cloudai's marker),
 * ts f64 (ms), data length u32, then the data.
 */
const RECORD_HEADER = 18;
const FLAG_MARKER = 1;
/** A new segment file is begun past this size, so acknowledged output leaves the disk while a task still writes. */
export const SEGMENT_BYTES = 16 * 1024 * 1024;
/** Buffers per writev: under IOV_MAX (1024) with room to spare. */
const MAX_IOVECS = 512;
/** The acknowledgement file: segment u32, offset f64. */
const ACK_BYTES = 12;
const ACK_FILE = 'ack';
const SEGMENT_RE = /^(\d{8})\.seg$/;

/** One piece of output in the spool, as it goes to the master. */
export interface SpoolRecord {
  seq: number;
  stream: LogStream;
  ts: Date;
  data: Buffer;
  /** written by cloudai (a note of dropped output), not by the task */
  marker: boolean;
}

/** Where a record sits: its number (in spool order), segment and offset. */
interface Placed extends SpoolRecord {
  n: number;
  segment: number;
  offset: number;
  size: number;
}

interface Segment {
  no: number;
  file?: FileHandle;
  opening?: Promise<FileHandle>;
  /** bytes written to the file */
  written: number;
  /** bytes placed in it (written or queued) */
  placed: number;
}

/** A batch taken from the spool; `ack` it once the master has stored it. */
export interface Taken {
  chunks: LogChunk[];
  /** data bytes (what the spool bound counts) */
  bytes: number;
  /** where reading resumes after this batch */
  through: { n: number; segment: number; offset: number };
  /** the records taken from memory, and the blocks read from disk: their memory is freed on `ack` */
  held: { records: Placed[]; blocks: Buffer[] };
}

export interface SpoolOptions {
  /** output kept in memory (besides on disk) for shipping without reading it back */
  memoryBytes: number;
  /** told when the bytes on disk change (the worker's gauge) */
  onDiskBytes?: (delta: number) => void;
}

/**
 * One assignment's output on the worker's disk, in `<root>/<task_id>+<assignment_id>/`:
 * numbered segment files of records in seq order, and `ack`, where the
 * master's acknowledgements have reached. Every record is written as it
 * comes (the page cache makes that cheap), so a worker that restarts finds
 * all that was not yet acknowledged; while the master keeps up, records are
 * also kept in memory and shipped from there, so the disk is only read when
 * it falls behind. `push` never waits: a slow master never stalls the
 * container.
 */
export class LogSpool {
  private readonly segments = new Map<number, Segment>();
  /** records whose data is not on disk yet, oldest first */
  private readonly unwritten: Placed[] = [];
  private unwrittenBytes = 0;
  /** records held in memory for shipping, contiguous from the reader */
  private readonly cache: Placed[] = [];
  private cacheBytes = 0;
  /** false once a record did not fit in memory, until the reader catches up */
  private caching = true;
  private appended = 0;
  private placeSegment = 0;
  private placeOffset = 0;
  /** the reader: next record number and where it is */
  private next = { n: 0, segment: 0, offset: 0 };
  private acked = { segment: 0, offset: 0 };
  /** discardPending calls so far: a take that a discard overtook returns nothing */
  private discards = 0;
  /** records numbered below this are acknowledged (this process's records only) */
  private ackedN = 0;
  /** data bytes pushed and not yet acknowledged */
  private unackedData = 0;
  private diskBytes = 0;
  private writing: Promise<void> | undefined;
  private ackFile: FileHandle | undefined;
  private ackDirty = false;
  private failure: Error | undefined;
  private removed = false;

  private constructor(
    readonly dir: string,
    private readonly options: SpoolOptions,
    /** true for a spool found at start: nothing is pushed, everything on disk is read */
    private readonly recovered: boolean,
  ) {}

  /** The folder for an assignment's spool; both ids are validated here, as the name comes from them alone. */
  static pathFor(root: string, taskId: string, assignmentId: string): string {
    if (!ID_PATTERN.test(taskId)) throw new Error(`task id ${JSON.stringify(taskId)} cannot name a spool`);
    if (!ID_PATTERN.test(assignmentId)) throw new Error(`assignment id ${JSON.stringify(assignmentId)} cannot name a spool`);
    return join(root, `${taskId}+${assignmentId}`);
  }

  /** An empty spool for a new assignment; its folder is made with the first write. */
  static create(root: string, taskId: string, assignmentId: string, options: SpoolOptions): LogSpool {
    return new LogSpool(LogSpool.pathFor(root, taskId, assignmentId), options, false);
  }

  /** Makes `root` (0700: task output is private) and returns the assignments whose spools a previous process left. */
  static async list(root: string): Promise<{ taskId: string; assignmentId: string }[]> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    await chmod(root, 0o700);
    const found: { taskId: string; assignmentId: string }[] = [];
    for (const name of await readdir(root)) {
      const [taskId, assignmentId, extra] = name.split('+');
      if (extra === undefined && taskId && assignmentId && ID_PATTERN.test(taskId) && ID_PATTERN.test(assignmentId)) {
        found.push({ taskId, assignmentId });
      }
    }
    return found;
  }

  /** A spool a previous process left, positioned at its first unacknowledged record. */
  static async open(root: string, taskId: string, assignmentId: string, options: SpoolOptions): Promise<LogSpool> {
    const spool = new LogSpool(LogSpool.pathFor(root, taskId, assignmentId), options, true);
    await spool.load();
    return spool;
  }

  /** Data bytes pushed and not yet acknowledged: what WORKER_LOG_SPOOL_BYTES bounds. */
  get pendingBytes(): number {
    return this.unackedData;
  }

  /** Whether the master has acknowledged everything the spool holds. */
  get settled(): boolean {
    return this.recovered ? !this.hasMoreAt({ n: 0, ...this.acked }) : this.unackedData === 0;
  }

  /** Data bytes waiting to be written: they grow only if the disk is slower than the task. */
  get unwrittenDataBytes(): number {
    return this.unwrittenBytes;
  }

  /** Bytes held in memory: records not yet written, and those kept for shipping. */
  get memoryBytes(): number {
    return this.unwrittenBytes + this.cacheBytes;
  }

  /** Set when the disk failed: the spool takes nothing more. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Whether a record is waiting to be taken. */
  get hasMore(): boolean {
    return this.hasMoreAt(this.next);
  }

  /** Appends a record (its data is the spool's from now on); written in the background. */
  push(record: SpoolRecord): void {
    if (this.recovered || this.failure || this.removed) throw new Error('this spool takes no more records');
    const size = RECORD_HEADER + record.data.length;
    if (this.placeOffset > 0 && this.placeOffset + size > SEGMENT_BYTES) {
      this.placeSegment++;
      this.placeOffset = 0;
    }
    const placed: Placed = { ...record, n: this.appended++, segment: this.placeSegment, offset: this.placeOffset, size };
    this.placeOffset += size;
    this.segment(placed.segment).placed = this.placeOffset;
    this.unwritten.push(placed);
    this.unwrittenBytes += record.data.length;
    this.unackedData += record.data.length;
    if (this.caching && this.cacheBytes + record.data.length <= this.options.memoryBytes) {
      this.cache.push(placed);
      this.cacheBytes += record.data.length;
    } else {
      this.caching = false;
    }
    this.kick();
  }

  /**
   * The next records, up to `maxBytes` of data (at least one record) and
   * `maxChunks`, from memory where they still are, else read back from disk.
   * Nothing is consumed until `ack`.
   */
  async take(maxBytes: number, maxChunks: number): Promise<Taken | undefined> {
    const chunks: LogChunk[] = [];
    const held: Taken['held'] = { records: [], blocks: [] };
    const discards = this.discards;
    let bytes = 0;
    const at = { ...this.next };
    while (chunks.length < maxChunks) {
      const record = this.inMemory(at.n);
      if (record) {
        if (chunks.length > 0 && bytes + record.data.length > maxBytes) break;
        chunks.push(toChunk(record));
        held.records.push(record);
        bytes += record.data.length;
        this.advance(at, record.segment, record.offset + record.size);
        continue;
      }
      if (!this.hasMoreAt(at) || (chunks.length > 0 && bytes >= maxBytes)) break;
      const read = await this.readDisk(at, maxBytes - bytes, maxChunks - chunks.length, chunks.length === 0, held.blocks);
      if (read.length === 0) break;
      for (const r of read) {
        chunks.push(toChunk(r));
        bytes += r.data.length;
      }
    }
    // Discarded while it read the disk: what it read is no longer to be sent.
    if (chunks.length === 0 || this.discards !== discards) return undefined;
    this.next = at;
    // Records taken leave the memory cache; caching resumes once the reader has caught up.
    while (this.cache[0] && this.cache[0].n < at.n) this.cacheBytes -= this.cache.shift()!.data.length;
    if (!this.recovered && at.n === this.appended) this.caching = true;
    return { chunks, bytes, through: at, held };
  }

  /**
   * The master stored everything through `taken`: its records may leave the
   * disk, and their memory is freed now (see @cloudai/rpc's releaseChunk)
   * rather than when the collector gets to it: a burst otherwise left tens
   * of MiB of shipped chunks behind. A record still waiting for the disk is
   * freed once written. The caller must not read `taken` after.
   */
  ack(taken: Taken): void {
    this.unackedData = Math.max(0, this.unackedData - taken.bytes);
    this.acked = { segment: taken.through.segment, offset: taken.through.offset };
    this.ackedN = Math.max(this.ackedN, taken.through.n);
    const firstUnwritten = this.unwritten[0]?.n ?? Infinity;
    for (const r of taken.held.records) if (r.n < firstUnwritten) releaseChunk(r.data);
    for (const block of taken.held.blocks) releaseChunk(block);
    this.ackDirty = true;
    this.kick();
  }

  /** Waits until every record pushed is on disk and the acknowledgement is recorded. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Drops everything not yet taken (the master keeps no more), counting its data bytes; returns them. */
  discardPending(): number {
    this.discards++;
    const bytes = this.unackedData;
    this.unackedData = 0;
    this.cache.length = 0;
    this.cacheBytes = 0;
    this.next = { n: this.appended, segment: this.placeSegment, offset: this.placeOffset };
    return bytes;
  }

  /** Closes the files, leaving the spool on disk for the next process. */
  async close(): Promise<void> {
    await this.flush();
    await this.closeFiles();
  }

  /** Deletes the spool's folder; nothing is pushed after. */
  async remove(): Promise<void> {
    this.removed = true;
    await this.flush();
    await this.closeFiles();
    await rm(this.dir, { recursive: true, force: true });
    this.options.onDiskBytes?.(-this.diskBytes);
    this.diskBytes = 0;
  }

  private async closeFiles(): Promise<void> {
    for (const s of this.segments.values()) await s.file?.close().catch(() => {});
    this.segments.clear();
    await this.ackFile?.close().catch(() => {});
    this.ackFile = undefined;
  }

  private segment(no: number): Segment {
    let s = this.segments.get(no);
    if (!s) {
      s = { no, written: 0, placed: 0 };
      this.segments.set(no, s);
    }
    return s;
  }

  private inMemory(n: number): Placed | undefined {
    const cached = this.cache[0];
    if (cached && n >= cached.n && n - cached.n < this.cache.length) return this.cache[n - cached.n];
    const first = this.unwritten[0];
    if (first && n >= first.n && n - first.n < this.unwritten.length) return this.unwritten[n - first.n];
    return undefined;
  }

  private hasMoreAt(at: { n: number; segment: number; offset: number }): boolean {
    if (!this.recovered) return at.n < this.appended;
    for (const s of this.segments.values()) if (s.no > at.segment || (s.no === at.segment && s.written > at.offset)) return true;
    return false;
  }

  /** Moves `at` past a record ending at `end` of `segment`. */
  private advance(at: { n: number; segment: number; offset: number }, segment: number, end: number): void {
    at.n++;
    at.segment = segment;
    at.offset = end;
  }

  /** Whole records from disk at `at` (moved past them). */
  private async readDisk(
    at: { n: number; segment: number; offset: number },
    maxBytes: number,
    maxChunks: number,
    /** the batch is empty: one record is taken whatever its size */
    first: boolean,
    /** each block read is added here */
    blocks: Buffer[],
  ): Promise<Placed[]> {
    for (;;) {
      let s = this.segments.get(at.segment);
      if (!s || at.offset >= s.written) {
        // Read to its end (or gone, wholly acknowledged): the next segment starts at 0.
        const later = [...this.segments.keys()].filter((no) => no > at.segment);
        if (later.length === 0) return [];
        at.segment = Math.min(...later);
        at.offset = 0;
        s = this.segments.get(at.segment)!;
        if (s.written === 0) return [];
      }
      const file = await this.fileOf(s);
      const length = Math.min(s.written - at.offset, RECORD_HEADER + Math.max(maxBytes, first ? MAX_LOG_CHUNK_BYTES : 0));
      const block = Buffer.allocUnsafe(length);
      blocks.push(block);
      const { bytesRead } = await file.read(block, 0, length, at.offset);
      const out: Placed[] = [];
      let pos = 0;
      let bytes = 0;
      while (out.length < maxChunks && pos + RECORD_HEADER <= bytesRead) {
        const dataLength = block.readUInt32BE(pos + 14);
        if (dataLength > MAX_LOG_CHUNK_BYTES || pos + RECORD_HEADER + dataLength > bytesRead) break;
        if ((out.length > 0 || !first) && bytes + dataLength > maxBytes) break;
        const record: Placed = {
          seq: block.readUInt32BE(pos),
          stream: block.readUInt8(pos + 4) as LogStream,
          marker: (block.readUInt8(pos + 5) & FLAG_MARKER) !== 0,
          ts: new Date(block.readDoubleBE(pos + 6)),
          data: block.subarray(pos + RECORD_HEADER, pos + RECORD_HEADER + dataLength),
          n: at.n,
          segment: s.no,
          offset: at.offset,
          size: RECORD_HEADER + dataLength,
        };
        out.push(record);
        bytes += dataLength;
        pos += record.size;
        this.advance(at, s.no, at.offset + record.size);
      }
      if (out.length > 0 || !first || !this.recovered || bytesRead < s.written - at.offset) return out;
      // A record cut short by a crash mid-write ends what this segment holds.
      s.written = at.offset;
    }
  }

  private fileOf(s: Segment): Promise<FileHandle> {
    if (s.file) return Promise.resolve(s.file);
    s.opening ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      // 'a+' would ignore positions; 'w+' only for a new segment, 'r+' for one found at start.
      const file = await open(join(this.dir, segmentName(s.no)), this.recovered ? 'r+' : 'w+', 0o600);
      s.file = file;
      return file;
    })();
    return s.opening;
  }

  /** Starts the background writer unless it runs. */
  private kick(): void {
    if (this.writing || this.removed) return;
    this.writing = this.write()
      .catch((err: unknown) => {
        this.failure = err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => {
        this.writing = undefined;
        if (!this.failure && !this.removed && (this.unwritten.length > 0 || this.ackDirty)) this.kick();
      });
  }

  private async write(): Promise<void> {
    while (!this.removed) {
      if (this.ackDirty) {
        this.ackDirty = false;
        await this.recordAck();
      }
      if (this.unwritten.length === 0) return;
      const first = this.unwritten[0]!;
      const s = this.segment(first.segment);
      const buffers: Buffer[] = [];
      let count = 0;
      let bytes = 0;
      while (count < this.unwritten.length && buffers.length < MAX_IOVECS) {
        const r = this.unwritten[count]!;
        if (r.segment !== first.segment) break;
        buffers.push(header(r), r.data);
        bytes += r.size;
        count++;
      }
      const file = await this.fileOf(s);
      await file.writev(buffers, first.offset);
      s.written = first.offset + bytes;
      for (let i = 0; i < count; i++) {
        const r = this.unwritten.shift()!;
        this.unwrittenBytes -= r.data.length;
        // Shipped and acknowledged before it reached the disk: its memory is no one's now.
        if (r.n < this.ackedN) releaseChunk(r.data);
      }
      this.diskBytes += bytes;
      this.options.onDiskBytes?.(bytes);
    }
  }

  /** Writes where the master's acknowledgements reached, then deletes the segments wholly behind it. */
  private async recordAck(): Promise<void> {
    const { segment, offset } = this.acked;
    if (!this.ackFile) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.ackFile = await open(join(this.dir, ACK_FILE), this.recovered ? 'r+' : 'w+', 0o600).catch(() =>
        open(join(this.dir, ACK_FILE), 'w+', 0o600),
      );
    }
    const buf = Buffer.alloc(ACK_BYTES);
    buf.writeUInt32BE(segment, 0);
    buf.writeDoubleBE(offset, 4);
    await this.ackFile.write(buf, 0, ACK_BYTES, 0);
    for (const s of [...this.segments.values()]) {
      // Wholly acknowledged and no longer written to: its bytes leave the disk.
      const done = s.no < segment || (s.no === segment && offset >= s.written && s.no < this.lastSegment());
      if (!done || s.placed !== s.written) continue;
      this.segments.delete(s.no);
      await s.file?.close().catch(() => {});
      await rm(join(this.dir, segmentName(s.no)), { force: true });
      this.diskBytes -= s.written;
      this.options.onDiskBytes?.(-s.written);
    }
  }

  private lastSegment(): number {
    return this.recovered ? Math.max(...this.segments.keys()) : this.placeSegment;
  }

  /** Reads what a previous process left: its segments and where its acknowledgements reached. */
  private async load(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) {
      const m = SEGMENT_RE.exec(name);
      if (!m) continue;
      const file = await open(join(this.dir, name), 'r+');
      const { size } = await file.stat();
      this.segments.set(Number(m[1]), { no: Number(m[1]), file, written: size, placed: size });
      this.diskBytes += size;
    }
    this.options.onDiskBytes?.(this.diskBytes);
    const first = Math.min(...this.segments.keys());
    let at = { segment: Number.isFinite(first) ? first : 0, offset: 0 };
    const ack = await open(join(this.dir, ACK_FILE), 'r').catch(() => undefined);
    if (ack) {
      const buf = Buffer.alloc(ACK_BYTES);
      const { bytesRead } = await ack.read(buf, 0, ACK_BYTES, 0);
      await ack.close();
      if (bytesRead === ACK_BYTES) at = { segment: buf.readUInt32BE(0), offset: buf.readDoubleBE(4) };
    }
    this.next = { n: 0, ...at };
    this.acked = { ...at };
    for (const seg of this.segments.values()) {
      if (seg.no >= at.segment) this.unackedData += Math.max(0, seg.written - (seg.no === at.segment ? at.offset : 0));
    }
  }
}

function segmentName(no: number): string {
  return `${String(no).padStart(8, '0')}.seg`;
}

function header(r: SpoolRecord): Buffer {
  const h = Buffer.allocUnsafe(RECORD_HEADER);
  h.writeUInt32BE(r.seq, 0);
  h.writeUInt8(r.stream, 4);
  h.writeUInt8(r.marker ? FLAG_MARKER : 0, 5);
  h.writeDoubleBE(r.ts.getTime(), 6);
  h.writeUInt32BE(r.data.length, 14);
  return h;
}

function toChunk(r: SpoolRecord): LogChunk {
  return { seq: r.seq, stream: r.stream, ts: r.ts, data: r.data, marker: r.marker };
}
