import { describe, expect, it } from 'vitest';
import { DockerDemuxer } from './demux.js';

function frame(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function collect(pieces: Buffer[]) {
  const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const demux = new DockerDemuxer((stream, data) => out[stream].push(Buffer.from(data)));
  for (const p of pieces) demux.push(p);
  return { stdout: Buffer.concat(out.stdout), stderr: Buffer.concat(out.stderr), calls: out.stdout.length + out.stderr.length };
}

describe('DockerDemuxer', () => {
  const wire = Buffer.concat([
    frame(1, Buffer.from('out-1\n')),
    frame(2, Buffer.from([0, 1, 255])),
    frame(0, Buffer.from('stdin is ignored')),
    frame(1, Buffer.alloc(0)),
    frame(1, Buffer.from('no newline\r')),
  ]);

  it('splits frames into their streams', () => {
    const out = collect([wire]);
    expect(out.stdout.toString()).toBe('out-1\nno newline\r');
    expect(out.stderr).toEqual(Buffer.from([0, 1, 255]));
  });

  it('gives the same bytes however the wire is cut, headers included', () => {
    for (const size of [1, 3, 7, 8, 9, 13]) {
      const pieces: Buffer[] = [];
      for (let at = 0; at < wire.length; at += size) pieces.push(wire.subarray(at, at + size));
      const out = collect(pieces);
      expect(out.stdout.toString()).toBe('out-1\nno newline\r');
      expect(out.stderr).toEqual(Buffer.from([0, 1, 255]));
    }
  });

  it('hands on a big frame piece by piece, without waiting for its end', () => {
    const payload = Buffer.alloc(100_000, 'x');
    const whole = frame(1, payload);
    const seen: number[] = [];
    const demux = new DockerDemuxer((_, data) => seen.push(data.length));
    demux.push(whole.subarray(0, 40_008));
    expect(seen).toEqual([40_000]);
    demux.push(whole.subarray(40_008));
    expect(seen).toEqual([40_000, 60_000]);
  });
});
