import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store.js';
import { describeAssignmentResultContract } from './assignments-results.js';
import { describeEventContract, makeEvent } from './events.js';
import { describeFileMetadataContract } from './file-metadata.js';
import { makeAssignment, makeChunk, makeFile, makeTask, makeWorker } from './fixtures.js';
import { describeIdentityContract, makeToken, makeUser } from './identity.js';
import { describeLogChunkContract } from './log-chunks.js';
import type { ContractSubject } from './subject.js';
import { describeTaskContract } from './tasks.js';
import { describeWorkerContract } from './workers.js';

/**
 * The behaviour every Store adapter must have. `open` must return a new store
 * over the SAME database on every call: the suite opens a second one to race
 * two stores the way two master processes would.
 */
export function describeStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    const extra: Store[] = [];

    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      for (const s of extra) await s.close();
      await store?.close();
    });
    beforeEach(async () => {
      await store.clear();
    });

    const subject: ContractSubject = {
      get store() {
        return store;
      },
      async second() {
        const s = await open();
        extra.push(s);
        return s;
      },
    };

    describeTaskContract(subject);
    describeWorkerContract(subject);
    describeAssignmentResultContract(subject);
    describeLogChunkContract(subject);
    describeFileMetadataContract(subject);
    describeIdentityContract(subject);
    describeEventContract(subject);

    it('clear() removes every record', async () => {
      const task = makeTask();
      await store.createTask(task);
      await store.appendLogChunks([makeChunk(task.taskId, 'a', 1, 0)]);
      await store.replaceFileMetadata(task.taskId, [makeFile(task.taskId, 'f', Date.now())]);
      await store.registerWorker(makeWorker('w1'), new Date());
      const assignment = makeAssignment({ taskId: task.taskId });
      await store.createAssignment(assignment);
      await store.putResult({
        taskId: task.taskId,
        workerId: 'w1',
        status: 'SUCCEEDED',
        exitCode: 0,
        completedAt: new Date(),
        logBytes: 0,
      });
      await store.createUser(makeUser('alice'));
      await store.createToken(makeToken('t1', 'alice'));
      await store.appendEvents([makeEvent()]);
      await store.clear();
      expect(await store.getTask(task.taskId)).toBeNull();
      expect(await store.listWorkers()).toEqual([]);
      expect(await store.getAssignment(assignment.assignmentId)).toBeNull();
      expect(await store.getResult(task.taskId)).toBeNull();
      expect(await store.readLogChunks(task.taskId, { limit: 10 })).toEqual([]);
      expect(await store.listFileMetadata(task.taskId)).toEqual([]);
      expect(await store.listUsers()).toEqual([]);
      expect(await store.listTokens()).toEqual([]);
      expect(await store.listEvents({ limit: 10 })).toEqual([]);
    });
  });
}
