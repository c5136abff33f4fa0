import { beforeEach, describe, expect, it } from 'vitest';
import { newTaskId } from '@cloudai/domain';
import type { Store } from '../store.js';
import { cmp, makeFile, range } from './fixtures.js';
import type { ContractSubject } from './subject.js';

/** FILE_METADATA: the records of stored output files. */
export function describeFileMetadataContract(subject: ContractSubject): void {
  let store: Store;
  beforeEach(() => {
    store = subject.store;
  });

  describe('file metadata', () => {
    const t0 = Date.UTC(2024, 3, 1);

    it('replaces the set of files: a second replace leaves exactly the second set, listed by path', async () => {
      const taskId = newTaskId();
      const otherTask = newTaskId();
      const first = ['b.txt', 'a/x.bin', 'c', 'a/b/deep.csv'].map((p) => makeFile(taskId, p, t0));
      await store.replaceFileMetadata(taskId, first);
      await store.replaceFileMetadata(otherTask, [makeFile(otherTask, 'keep.txt', t0)]);
      expect(await store.listFileMetadata(taskId)).toEqual(
        [...first].sort((x, y) => cmp(x.filePath, y.filePath)),
      );

      const secondSet = [makeFile(taskId, 'b.txt', t0 + 5, { fileSize: 99 }), makeFile(taskId, 'd.txt', t0 + 5)];
      await store.replaceFileMetadata(taskId, secondSet);
      expect(await store.listFileMetadata(taskId)).toEqual(secondSet);
      expect(await store.listFileMetadata(otherTask)).toHaveLength(1);

      await store.replaceFileMetadata(taskId, []);
      expect(await store.listFileMetadata(taskId)).toEqual([]);
      expect(await store.listFileMetadata(newTaskId())).toEqual([]);
    });

    it('never duplicates or mixes sets when retried replaces race', async () => {
      const other = await subject.second();
      const taskId = newTaskId();
      const setA = ['x', 'y', 'z'].map((p) => makeFile(taskId, p, t0));
      const setB = ['x', 'w'].map((p) => makeFile(taskId, p, t0 + 1, { fileSize: 7 }));
      await Promise.all(range(0, 10).map((i) => (i % 2 ? other : store).replaceFileMetadata(taskId, setA)));
      expect(await store.listFileMetadata(taskId)).toEqual(setA);

      await Promise.all(range(0, 10).map((i) => store.replaceFileMetadata(taskId, i % 2 ? setA : setB)));
      const final = await store.listFileMetadata(taskId);
      expect([setA, [...setB].sort((x, y) => cmp(x.filePath, y.filePath))]).toContainEqual(final);
    });

    it("refuses a file of another task or a repeated path, keeping the task's files", async () => {
      const taskId = newTaskId();
      const files = [makeFile(taskId, 'a', t0)];
      await store.replaceFileMetadata(taskId, files);
      await expect(store.replaceFileMetadata(taskId, [makeFile(newTaskId(), 'b', t0)])).rejects.toThrow(
        /belongs to task/,
      );
      await expect(
        store.replaceFileMetadata(taskId, [makeFile(taskId, 'b', t0), makeFile(taskId, 'b', t0)]),
      ).rejects.toThrow(/appears twice/);
      expect(await store.listFileMetadata(taskId)).toEqual(files);
    });

    it("deletes a task's files and reports how many", async () => {
      const taskId = newTaskId();
      const keep = newTaskId();
      await store.replaceFileMetadata(taskId, ['a', 'b', 'c'].map((p) => makeFile(taskId, p, t0)));
      await store.replaceFileMetadata(keep, [makeFile(keep, 'a', t0)]);
      expect(await store.deleteFileMetadata(taskId)).toBe(3);
      expect(await store.listFileMetadata(taskId)).toEqual([]);
      expect(await store.deleteFileMetadata(taskId)).toBe(0);
      expect(await store.listFileMetadata(keep)).toHaveLength(1);
    });

    it('lists each task with files stored before a time once, oldest first, up to the limit', async () => {
      const [a, b, c, d] = [newTaskId(), newTaskId(), newTaskId(), newTaskId()] as [string, string, string, string];
      await store.replaceFileMetadata(a, [makeFile(a, 'f', t0 + 3)]);
      await store.replaceFileMetadata(b, ['f', 'g', 'h'].map((p, i) => makeFile(b, p, t0 + 1 + i * 3)));
      await store.replaceFileMetadata(c, ['f', 'g'].map((p) => makeFile(c, p, t0 + 2)));
      await store.replaceFileMetadata(d, [makeFile(d, 'f', t0 + 10)]);

      expect(await store.listTasksWithFilesStoredBefore(new Date(t0 + 5), 100)).toEqual([b, c, a]);
      expect(await store.listTasksWithFilesStoredBefore(new Date(t0 + 5), 2)).toEqual([b, c]);
      expect(await store.listTasksWithFilesStoredBefore(new Date(t0 + 1), 100)).toEqual([]);
      expect(await store.listTasksWithFilesStoredBefore(new Date(t0 + 11), 100)).toEqual([b, c, a, d]);
      await expect(store.listTasksWithFilesStoredBefore(new Date(t0), 0)).rejects.toThrow(/limit/);
    });
  });
}
