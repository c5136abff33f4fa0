import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LogStream } from '@cloudai/proto';
import { tempDir } from '@cloudai/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { LogSpool } from './log-spool.js';

const TASK = '01a237db-4cc6-78fa-9172-0a114ada9a83';
const ASSIGNMENT = '01a237db-4cc6-78fa-9172-0a12993f55fe';
/** The on-disk header before each record's data (see log-spool.ts). */
const RECORD_HEADER = 18;

function record(seq: number, fill: number) {
  return { seq, stream: LogStream.LOG_STREAM_STDOUT, ts: new Date(), data: Buffer.alloc(256 * 1024, fill), marker: false };
}

const dirs: { remove(): Promise<void> }[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await d.remove();
});

async function spoolRoot(): Promise<string> {
  const dir = await tempDir('spool-');
  dirs.push(dir);
  return dir.path;
}

describe('LogSpool memory', () => {
  it("frees a shipped record's memory once the master has it and the disk has it, whichever comes last", async () => {
    const root = await spoolRoot();
    const spool = LogSpool.create(root, TASK, ASSIGNMENT, { memoryBytes: 4 * 1024 * 1024 });

    // Acknowledged after it was written: freed on the acknowledgement.
    const written = record(0, 1);
    spool.push(written);
    await spool.flush();
    const first = (await spool.take(1024 * 1024, 16))!;
    expect(first.chunks[0]!.data).toBe(written.data);
    spool.ack(first);
    expect(written.data.length).toBe(0);

    // Acknowledged before the disk had it: written whole first, freed after.
    const early = record(1, 2);
    spool.push(early);
    const second = (await spool.take(1024 * 1024, 16))!;
    spool.ack(second);
    await spool.flush();
    expect(early.data.length).toBe(0);
    const segment = await readFile(join(LogSpool.pathFor(root, TASK, ASSIGNMENT), '00000000.seg'));
    const size = RECORD_HEADER + 256 * 1024;
    expect(segment.length).toBe(2 * size);
    expect(segment.subarray(size + RECORD_HEADER).equals(Buffer.alloc(256 * 1024, 2))).toBe(true);
    await spool.remove();
  });

  it('frees the blocks it read back from disk once their batch is acknowledged', async () => {
    const root = await spoolRoot();
    // Nothing kept in memory: every record is read back.
    const spool = LogSpool.create(root, TASK, ASSIGNMENT, { memoryBytes: 0 });
    spool.push(record(0, 3));
    spool.push(record(1, 4));
    await spool.flush();
    const taken = (await spool.take(1024 * 1024, 16))!;
    expect(taken.chunks.map((c) => c.data.equals(Buffer.alloc(256 * 1024, c.seq + 3)))).toEqual([true, true]);
    spool.ack(taken);
    expect(taken.chunks.map((c) => c.data.length)).toEqual([0, 0]);
    await spool.remove();
  });
});
