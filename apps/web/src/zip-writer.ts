import { crc32 } from 'node:zlib';

// A streaming zip writer (PKWARE APPNOTE 6.3): every entry STOREd (task
// outputs are mostly compressed already, and storing keeps the rate at the
// network's), its CRC-32 and sizes in a data descriptor after its bytes, so
// nothing is held or written twice; zip64 records wherever a size, an offset
// or the entry count outgrows the classic fields.

const LOCAL_HEADER = 0x04034b50;
const DATA_DESCRIPTOR = 0x08074b50;
const CENTRAL_HEADER = 0x02014b50;
const ZIP64_END = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const END = 0x06054b50;

const MAX_32 = 0xffff_ffff;
const MAX_16 = 0xffff;
/** bit 3: sizes and CRC follow the data; bit 11: the name is UTF-8 */
const FLAGS = 0x0008 | 0x0800;
/** 2.0: the classic format; 4.5: zip64 */
const VERSION_CLASSIC = 20;
const VERSION_ZIP64 = 45;
/** "made by" Unix (3), so the external attributes hold a file mode */
const MADE_BY_UNIX = 3 << 8;
/** a regular file, rw-r--r-- */
const FILE_MODE = 0o100644;

interface CentralEntry {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
  dosTime: number;
  dosDate: number;
  zip64: boolean;
}

interface OpenEntry extends CentralEntry {
  declaredSize: number;
  written: number;
}

/** Where the bytes go: resolves once they may be followed by more (the consumer's backpressure). */
export type ZipSink = (bytes: Buffer) => Promise<void>;

function dosDateTime(date: Date): { dosTime: number; dosDate: number } {
  // DOS dates start in 1980.
  const d = date.getUTCFullYear() < 1980 ? new Date(Date.UTC(1980, 0, 1)) : date;
  return {
    dosTime: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
    dosDate: ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

/**
 * Writes a zip archive to `sink` as entries come: begin(), data()…, end() per
 * entry, then finish(). Memory is one central-directory record per entry.
 */
export class ZipWriter {
  private offset = 0;
  private readonly entries: CentralEntry[] = [];
  private current: OpenEntry | undefined;

  constructor(private readonly sink: ZipSink) {}

  /** Starts an entry of `size` bytes (known in advance: it decides whether the entry needs zip64). */
  async begin(path: string, size: number, modified: Date): Promise<void> {
    if (this.current) throw new Error('the previous entry is not ended');
    const name = Buffer.from(path, 'utf8');
    const zip64 = size >= MAX_32 || this.offset >= MAX_32;
    const { dosTime, dosDate } = dosDateTime(modified);
    const extra = zip64 ? Buffer.alloc(20) : Buffer.alloc(0);
    if (zip64) {
      // Sizes are in the data descriptor; the local zip64 field holds both, as zero.
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(16, 2);
    }
    const header = Buffer.alloc(30);
    header.writeUInt32LE(LOCAL_HEADER, 0);
    header.writeUInt16LE(zip64 ? VERSION_ZIP64 : VERSION_CLASSIC, 4);
    header.writeUInt16LE(FLAGS, 6);
    header.writeUInt16LE(0, 8); // STORE
    header.writeUInt16LE(dosTime, 10);
    header.writeUInt16LE(dosDate, 12);
    header.writeUInt32LE(0, 14); // CRC-32: in the data descriptor
    header.writeUInt32LE(zip64 ? MAX_32 : 0, 18);
    header.writeUInt32LE(zip64 ? MAX_32 : 0, 22);
    header.writeUInt16LE(name.length, 26);
    header.writeUInt16LE(extra.length, 28);
    this.current = { name, crc: 0, size: 0, offset: this.offset, dosTime, dosDate, zip64, declaredSize: size, written: 0 };
    await this.write(Buffer.concat([header, name, extra]));
  }

  async data(chunk: Uint8Array): Promise<void> {
    const entry = this.current;
    if (!entry) throw new Error('no entry is open');
    if (entry.written + chunk.length > entry.declaredSize) {
      throw new Error(`${entry.name.toString()} has more than its ${entry.declaredSize} bytes`);
    }
    entry.crc = crc32(chunk, entry.crc);
    entry.written += chunk.length;
    await this.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  async end(): Promise<void> {
    const entry = this.current;
    if (!entry) throw new Error('no entry is open');
    if (entry.written !== entry.declaredSize) {
      throw new Error(`${entry.name.toString()} ended after ${entry.written} of its ${entry.declaredSize} bytes`);
    }
    this.current = undefined;
    entry.size = entry.written;
    const descriptor = Buffer.alloc(entry.zip64 ? 24 : 16);
    descriptor.writeUInt32LE(DATA_DESCRIPTOR, 0);
    descriptor.writeUInt32LE(entry.crc, 4);
    if (entry.zip64) {
      descriptor.writeBigUInt64LE(BigInt(entry.size), 8);
      descriptor.writeBigUInt64LE(BigInt(entry.size), 16);
    } else {
      descriptor.writeUInt32LE(entry.size, 8);
      descriptor.writeUInt32LE(entry.size, 12);
    }
    this.entries.push(entry);
    await this.write(descriptor);
  }

  /** Writes the central directory and the end records; the archive is complete after it. */
  async finish(): Promise<void> {
    if (this.current) throw new Error('an entry is still open');
    const start = this.offset;
    for (const entry of this.entries) await this.write(centralHeader(entry));
    const size = this.offset - start;
    const count = this.entries.length;
    if (count > MAX_16 || size >= MAX_32 || start >= MAX_32) await this.write(zip64End(this.offset, count, size, start));
    const end = Buffer.alloc(22);
    end.writeUInt32LE(END, 0);
    end.writeUInt16LE(Math.min(count, MAX_16), 8);
    end.writeUInt16LE(Math.min(count, MAX_16), 10);
    end.writeUInt32LE(Math.min(size, MAX_32), 12);
    end.writeUInt32LE(Math.min(start, MAX_32), 16);
    await this.write(end);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.offset;
  }

  private async write(bytes: Buffer): Promise<void> {
    this.offset += bytes.length;
    await this.sink(bytes);
  }
}

function centralHeader(entry: CentralEntry): Buffer {
  // The zip64 field holds, in this order, only the values that overflow.
  const big: number[] = [];
  if (entry.size >= MAX_32) big.push(entry.size, entry.size);
  if (entry.offset >= MAX_32) big.push(entry.offset);
  const extra = Buffer.alloc(big.length > 0 ? 4 + 8 * big.length : 0);
  if (big.length > 0) {
    extra.writeUInt16LE(0x0001, 0);
    extra.writeUInt16LE(8 * big.length, 2);
    big.forEach((value, i) => extra.writeBigUInt64LE(BigInt(value), 4 + 8 * i));
  }
  const zip64 = big.length > 0 || entry.zip64;
  const header = Buffer.alloc(46);
  header.writeUInt32LE(CENTRAL_HEADER, 0);
  header.writeUInt16LE(MADE_BY_UNIX | VERSION_ZIP64, 4);
  header.writeUInt16LE(zip64 ? VERSION_ZIP64 : VERSION_CLASSIC, 6);
  header.writeUInt16LE(FLAGS, 8);
  header.writeUInt16LE(0, 10);
  header.writeUInt16LE(entry.dosTime, 12);
  header.writeUInt16LE(entry.dosDate, 14);
  header.writeUInt32LE(entry.crc, 16);
  header.writeUInt32LE(Math.min(entry.size, MAX_32), 20);
  header.writeUInt32LE(Math.min(entry.size, MAX_32), 24);
  header.writeUInt16LE(entry.name.length, 28);
  header.writeUInt16LE(extra.length, 30);
  // comment length, disk number, internal attributes: 0
  header.writeUInt32LE((FILE_MODE << 16) >>> 0, 38);
  header.writeUInt32LE(Math.min(entry.offset, MAX_32), 42);
  return Buffer.concat([header, entry.name, extra]);
}

/** The zip64 end of central directory record and its locator, written at `at`. */
function zip64End(at: number, count: number, size: number, start: number): Buffer {
  const record = Buffer.alloc(56 + 20);
  record.writeUInt32LE(ZIP64_END, 0);
  record.writeBigUInt64LE(44n, 4); // the record's size after this field
  record.writeUInt16LE(MADE_BY_UNIX | VERSION_ZIP64, 12);
  record.writeUInt16LE(VERSION_ZIP64, 14);
  // disk numbers (16, 20): 0
  record.writeBigUInt64LE(BigInt(count), 24);
  record.writeBigUInt64LE(BigInt(count), 32);
  record.writeBigUInt64LE(BigInt(size), 40);
  record.writeBigUInt64LE(BigInt(start), 48);
  record.writeUInt32LE(ZIP64_LOCATOR, 56);
  // disk with the zip64 record (60): 0
  record.writeBigUInt64LE(BigInt(at), 64);
  record.writeUInt32LE(1, 72); // total disks
  return record;
}
