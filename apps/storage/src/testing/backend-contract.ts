import { createHash, randomBytes } from 'node:crypto';
import { DomainError } from '@cloudai/rpc';
import type { FileMetadataRecord, FileMetadataStore } from '@cloudai/store';
import { Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskOutputs, UploadMeta } from '../outputs.js';
import { chunks, END, file, header } from './tar.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** One backend under test, with TaskOutputs and a SQLite store over it. */
export interface BackendSubject {
  outputs: TaskOutputs;
  store: FileMetadataStore;
  /**
   * What the backend holds that `records` (every record there is) do not
   * account for: files no record names, staged uploads, open multipart
   * uploads. A backend's own bookkeeping that the records explain (s3's
   * manifests and pending markers of recorded attempts) is not a stray.
   */
  strays(records: readonly FileMetadataRecord[]): Promise<string[]>;
  close(): Promise<void>;
}

/** Limits every subject is opened with: a file of more than 8 MiB exercises the object store's multipart path. */
export const CONTRACT_LIMITS = { maxBytes: 64 * MiB, maxFiles: 20, maxDepth: 8 };

/**
 * The behaviour both storage backends must have, through TaskOutputs: what
 * a reader can see is exactly what the records say, an upload is published
 * whole or not at all, a retry replaces, and nothing is left behind.
 */
export function describeBackendContract(name: string, open: () => Promise<BackendSubject>): void {
  describe(`output backend contract: ${name}`, () => {
    let s: BackendSubject;
    const tasks = new Set<string>();
    let n = 0;

    beforeAll(async () => {
      s = await open();
    });
    afterAll(async () => {
      await s?.close();
    });

    const meta = (taskId: string, assignmentId = 'a1'): UploadMeta => {
      tasks.add(taskId);
      return { taskId, taskName: 'train', userId: 'alice', submittedAt: new Date('2025-01-02T03:04:05Z'), assignmentId };
    };
    const newTask = () => `t-${name}-${++n}`;

    async function* stream(parts: Buffer[], chunk = 256 * 1024): AsyncGenerator<Buffer> {
      for (const part of parts) yield* chunks(part, chunk);
    }

    async function bytes(record: FileMetadataRecord, range?: { start: number; end?: number }): Promise<Buffer> {
      const parts: Buffer[] = [];
      for await (const chunk of s.outputs.read(record, { range })) {
        expect(chunk.length).toBeLessThanOrEqual(MiB);
        parts.push(chunk);
      }
      return Buffer.concat(parts);
    }

    async function allRecords(): Promise<FileMetadataRecord[]> {
      return (await Promise.all([...tasks].map((t) => s.store.listFileMetadata(t)))).flat();
    }

    /** Nothing stored beyond what the records say, once any cleanup has run. */
    async function expectNoStrays(): Promise<void> {
      expect(await s.strays(await allRecords())).toEqual([]);
    }

    async function refusal(p: Promise<unknown>): Promise<DomainError> {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DomainError);
      return err as DomainError;
    }

    const big = randomBytes(9 * MiB + 4321);

    it('stores every file with its size and sha256, reads each back byte for byte, and lists them', async () => {
      const taskId = newTask();
      const stored = await s.outputs.upload(
        meta(taskId),
        stream([file('metrics.json', '{"loss":0.1}\n'), file('models/model.bin', big), file('empty.txt', ''), END]),
      );
      const expected = [
        { path: 'metrics.json', size: 13, sha256: sha('{"loss":0.1}\n') },
        { path: 'models/model.bin', size: big.length, sha256: sha(big) },
        { path: 'empty.txt', size: 0, sha256: sha('') },
      ];
      expect(stored.files).toEqual(expected);
      expect(stored.totalBytes).toBe(13 + big.length);
      const records = await s.outputs.list(taskId);
      expect(records.map((r) => [r.filePath, r.fileSize, r.sha256])).toEqual(
        [...expected].sort((a, b) => a.path.localeCompare(b.path)).map((f) => [f.path, f.size, f.sha256]),
      );
      for (const r of records) {
        expect(r.taskDir.startsWith(`alice/train/${Math.floor(Date.parse('2025-01-02T03:04:05Z') / 1000)}/${taskId}`)).toBe(true);
      }
      const byPath = new Map(records.map((r) => [r.filePath, r]));
      expect((await bytes(byPath.get('models/model.bin')!)).equals(big)).toBe(true);
      expect((await bytes(byPath.get('metrics.json')!)).toString()).toBe('{"loss":0.1}\n');
      expect((await bytes(byPath.get('empty.txt')!)).length).toBe(0);
      await expectNoStrays();
    });

    it('reads a byte range: within one chunk, across chunks, to the end', async () => {
      const taskId = newTask();
      await s.outputs.upload(meta(taskId), stream([file('big.bin', big), END]));
      const [record] = await s.outputs.list(taskId);
      expect((await bytes(record!, { start: 10, end: 19 })).equals(big.subarray(10, 20))).toBe(true);
      expect((await bytes(record!, { start: MiB - 5, end: 3 * MiB + 7 })).equals(big.subarray(MiB - 5, 3 * MiB + 8))).toBe(true);
      expect((await bytes(record!, { start: big.length - 100 })).equals(big.subarray(big.length - 100))).toBe(true);
      expect((await bytes(record!, { start: big.length })).length).toBe(0);
      const err = await refusal(bytes(record!, { start: big.length + 1 }));
      expect(err.status).toBe(Status.OUT_OF_RANGE);
    });

    it('a retry of the same task replaces the earlier upload: no duplicates, nothing stale left', async () => {
      const taskId = newTask();
      await s.outputs.upload(meta(taskId), stream([file('keep.txt', 'v1'), file('stale.txt', 'old'), END]));
      await s.outputs.upload(meta(taskId, 'a2'), stream([file('keep.txt', 'v2'), file('new/added.txt', 'new'), END]));
      const records = await s.outputs.list(taskId);
      expect(records.map((r) => [r.filePath, r.assignmentId])).toEqual([
        ['keep.txt', 'a2'],
        ['new/added.txt', 'a2'],
      ]);
      expect((await bytes(records[0]!)).toString()).toBe('v2');
      await expectNoStrays();
    });

    it('concurrent uploads of one task end with exactly one of them stored', async () => {
      const taskId = newTask();
      await Promise.all([
        s.outputs.upload(meta(taskId, 'a1'), stream([file('a.txt', 'a'), file('shared.txt', 'from a'), END])),
        s.outputs.upload(meta(taskId, 'a2'), stream([file('b.txt', 'b'), file('shared.txt', 'from b'), END])),
      ]);
      const records = await s.outputs.list(taskId);
      expect([['a.txt', 'shared.txt'], ['b.txt', 'shared.txt']]).toContainEqual(records.map((r) => r.filePath));
      expect(new Set(records.map((r) => r.taskDir)).size).toBe(1);
      await expectNoStrays();
    });

    it('a refused upload leaves nothing, and the earlier outputs as they were', async () => {
      const taskId = newTask();
      await s.outputs.upload(meta(taskId), stream([file('kept.txt', 'kept'), END]));
      const before = await s.outputs.list(taskId);
      const refused = [
        // a hostile entry after good files, one of them large
        [file('ok.txt', 'fine'), file('big.bin', big), file('../../escaped', 'pwned'), END],
        // a file, then a file beneath it: a clash on any filesystem it is downloaded to
        [file('a', 'file'), file('a/b', 'under a file'), END],
        [file('d/x', 'x'), file('d', 'a file where a folder is'), END],
        // over the file quota
        [...Array.from({ length: CONTRACT_LIMITS.maxFiles + 1 }, (_, i) => file(`f${i}`, String(i))), END],
      ];
      for (const parts of refused) {
        const err = await refusal(s.outputs.upload(meta(taskId, 'a2'), stream(parts)));
        expect([Status.INVALID_ARGUMENT, Status.RESOURCE_EXHAUSTED]).toContain(err.status);
      }
      expect(await s.outputs.list(taskId)).toEqual(before);
      expect((await bytes(before[0]!)).toString()).toBe('kept');
      await expectNoStrays();
    });

    it('a stream cut mid-file, or an upload aborted mid-file, leaves nothing', async () => {
      const taskId = newTask();
      const cut = stream([file('small.txt', 's'), header({ name: 'big.bin', size: big.length }), big.subarray(0, 6 * MiB)]);
      const err = await refusal(s.outputs.upload(meta(taskId), cut));
      expect(err.message).toMatch(/truncated or corrupt tar stream/);

      const controller = new AbortController();
      async function* abortMidway() {
        yield file('small.txt', 's');
        yield header({ name: 'big.bin', size: big.length });
        yield big.subarray(0, 6 * MiB);
        controller.abort(new Error('client went away'));
        yield big.subarray(6 * MiB);
      }
      await expect(s.outputs.upload(meta(taskId), abortMidway(), controller.signal)).rejects.toThrow();
      expect(await s.outputs.list(taskId)).toEqual([]);
      await expectNoStrays();
    });

    it('an upload of no files replaces earlier outputs and stores nothing', async () => {
      const taskId = newTask();
      await s.outputs.upload(meta(taskId), stream([file('x', 'y'), END]));
      expect(await s.outputs.upload(meta(taskId), stream([END]))).toEqual({ files: [], totalBytes: 0 });
      expect(await s.outputs.list(taskId)).toEqual([]);
      await expectNoStrays();
    });

    it('deletes a task’s files with its records; retention keeps outputs stored after its cutoff', async () => {
      const taskId = newTask();
      await s.outputs.upload(meta(taskId), stream([file('a.txt', 'abc'), file('b/c.txt', 'de'), END]));
      const [first] = await s.outputs.list(taskId);
      expect(await s.outputs.delete(taskId, { storedBefore: first!.storedAt })).toEqual({ files: 0, bytes: 0 });
      expect(await s.outputs.delete(taskId)).toEqual({ files: 2, bytes: 5 });
      expect(await s.outputs.list(taskId)).toEqual([]);
      expect(await s.outputs.delete(taskId)).toEqual({ files: 0, bytes: 0 });
      expect(await s.outputs.delete('never-uploaded')).toEqual({ files: 0, bytes: 0 });
      await expectNoStrays();
      // A reader still holding a deleted record finds the file gone.
      const err = await refusal(bytes(first!));
      expect(err.status).toBe(Status.NOT_FOUND);
    });

    it('sweeps nothing that is published or in use', async () => {
      const taskId = newTask();
      await s.outputs.upload(meta(taskId), stream([file('a.txt', 'swept?'), END]));
      await s.outputs.backend.sweep(new Date());
      const [record] = await s.outputs.list(taskId);
      expect((await bytes(record!)).toString()).toBe('swept?');
      // Much later: a published attempt is still no leftover.
      await s.outputs.backend.sweep(new Date(Date.now() + 3 * 24 * 3600 * 1000));
      expect((await bytes(record!)).toString()).toBe('swept?');
      await expectNoStrays();
    });
  });
}
