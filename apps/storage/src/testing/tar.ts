/**
 * Raw tar blocks for tests: node-tar refuses to write the hostile entries
 * (absolute paths, "..", NULs in names, links, FIFOs), so they are built
 * byte by byte here, the way an attacker would.
 */

export interface RawHeader {
  /** the 100-byte name field, raw (may contain NUL) */
  name: string | Buffer;
  /** '0' file, '1' hard link, '2' symlink, '3' char device, '5' dir, '6' FIFO, 'x' pax */
  type?: string;
  size?: number;
  linkname?: string;
  /** the ustar prefix field, raw */
  prefix?: string | Buffer;
}

const enc = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

function octal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'latin1');
}

/** One 512-byte POSIX ustar header with a valid checksum. */
export function header(h: RawHeader): Buffer {
  const buf = Buffer.alloc(512);
  const name = enc(h.name);
  if (name.length > 100) throw new Error('name field is 100 bytes; use pax()');
  name.copy(buf, 0);
  octal(buf, 0o644, 100, 8);
  octal(buf, 0, 108, 8);
  octal(buf, 0, 116, 8);
  octal(buf, h.size ?? 0, 124, 12);
  octal(buf, 1_700_000_000, 136, 12);
  buf.write(h.type ?? '0', 156, 1, 'latin1');
  if (h.linkname) buf.write(h.linkname, 157, 100, 'utf8');
  buf.write('ustar\u000000', 257, 8, 'latin1');
  if (h.prefix) enc(h.prefix).copy(buf, 345, 0, 155);
  buf.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return buf;
}

/** File content padded to whole 512-byte blocks. */
export function body(data: Buffer | string): Buffer {
  const b = enc(data);
  const padded = Buffer.alloc(Math.ceil(b.length / 512) * 512);
  b.copy(padded);
  return padded;
}

/** A complete regular-file entry. */
export function file(name: string, data: Buffer | string): Buffer {
  const b = enc(data);
  return Buffer.concat([header({ name, size: b.length }), body(b)]);
}

/** A pax extended header giving the next entry's records (e.g. a long or NUL-bearing path). */
export function pax(records: Record<string, string>): Buffer {
  let text = '';
  for (const [k, v] of Object.entries(records)) {
    const rest = ` ${k}=${v}\n`;
    // The length prefix counts itself: find the fixed point.
    let n = Buffer.byteLength(rest) + 1;
    while (String(n).length + Buffer.byteLength(rest) !== n) n = String(n).length + Buffer.byteLength(rest);
    text += `${n}${rest}`;
  }
  const b = Buffer.from(text, 'utf8');
  return Buffer.concat([header({ name: 'PaxHeader', type: 'x', size: b.length }), body(b)]);
}

/** An entry whose path is given by a pax header (any length). */
export function paxEntry(path: string, type: string, data: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([pax({ path }), header({ name: 'placeholder', type, size: data.length }), body(data)]);
}

/** The end-of-archive marker: two zero blocks. */
export const END = Buffer.alloc(1024);

/** `data` as upload parts of at most `size` bytes. */
export function* chunks(data: Buffer, size = 1024 * 1024): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}
