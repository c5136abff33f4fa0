import { beforeEach, describe, expect, it } from 'vitest';
import { newAssignmentId, newTaskId } from '@cloudai/domain';
import type { ResultRecord } from '../records.js';
import type { Store } from '../store.js';
import { makeAssignment } from './fixtures.js';
import type { ContractSubject } from './subject.js';

/** ASSIGNMENTS and RESULTS: the fencing tokens and the accepted outcomes. */
export function describeAssignmentResultContract(subject: ContractSubject): void {
  let store: Store;
  beforeEach(() => {
    store = subject.store;
  });

  describe('assignments', () => {
    it('round-trips an assignment and finishes it only once', async () => {
      const a = makeAssignment({ attempt: 2 });
      await store.createAssignment(a);
      expect(await store.getAssignment(a.assignmentId)).toEqual(a);
      expect(await store.finishAssignment(a.assignmentId, 'SUCCEEDED')).toBe(true);
      expect(await store.finishAssignment(a.assignmentId, 'superseded')).toBe(false);
      expect(await store.getAssignment(a.assignmentId)).toEqual({ ...a, outcome: 'SUCCEEDED' });
      expect(await store.getAssignment(newAssignmentId())).toBeNull();
      expect(await store.finishAssignment(newAssignmentId(), 'FAILED')).toBe(false);
    });

    it('lets exactly one of many concurrent finishes win', async () => {
      const a = makeAssignment();
      await store.createAssignment(a);
      const outcomes = Array.from({ length: 20 }, (_, i) => `outcome-${i}`);
      const results = await Promise.all(outcomes.map((o) => store.finishAssignment(a.assignmentId, o)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.getAssignment(a.assignmentId))?.outcome).toBe(outcomes[results.indexOf(true)]);
    });

    it('refuses a duplicate assignment id', async () => {
      const a = makeAssignment();
      await store.createAssignment(a);
      await expect(store.createAssignment({ ...a, workerId: 'w2' })).rejects.toThrow();
      expect((await store.getAssignment(a.assignmentId))?.workerId).toBe('w1');
    });
  });

  describe('results', () => {
    it('stores, replaces and reads a result', async () => {
      const taskId = newTaskId();
      const r1: ResultRecord = {
        taskId,
        workerId: 'w1',
        status: 'FAILED',
        exitCode: null,
        completedAt: new Date('2024-08-08T08:08:08.008Z'),
        logBytes: 0,
      };
      await store.putResult(r1);
      expect(await store.getResult(taskId)).toEqual(r1);
      const r2: ResultRecord = { ...r1, workerId: 'w2', status: 'SUCCEEDED', exitCode: 0, logBytes: 1234 };
      await store.putResult(r2);
      expect(await store.getResult(taskId)).toEqual(r2);
      expect(await store.getResult(newTaskId())).toBeNull();
    });
  });
}
