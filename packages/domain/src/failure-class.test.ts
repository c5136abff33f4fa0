import { describe, expect, it } from 'vitest';
import { FAILURE_CLASSES, FAILURE_CLASSES_BY_STATUS, failureClassOf, type FailureClass } from './failure-class.js';
import { TASK_STATUSES, TERMINAL_STATUSES } from './status.js';

const failed = (reason: string, exitCode: number | null = null) => failureClassOf({ status: 'FAILED', reason, exitCode });

describe('failureClassOf', () => {
  it('classes the other ended statuses by status alone', () => {
    expect(failureClassOf({ status: 'SUCCEEDED', reason: '', exitCode: 0 })).toBe('none');
    expect(failureClassOf({ status: 'CANCELLED', reason: 'cancelled by alice', exitCode: null })).toBe('cancelled');
    expect(failureClassOf({ status: 'TIMED_OUT', reason: 'timed out after 5 s', exitCode: 137 })).toBe('timeout');
  });

  it('has no class for a task that has not ended', () => {
    for (const status of ['QUEUED', 'SCHEDULED', 'RUNNING', 'UPLOADING'] as const) {
      expect(failureClassOf({ status, reason: 'exited with code 1', exitCode: 1 })).toBeUndefined();
    }
  });

  // The reasons exactly as the worker and the master word them today.
  it.each<[string, number | null, FailureClass]>([
    ['exited with code 3', 3, 'exit_code'],
    ['out of memory (limit 0.5 GB)', 137, 'oom'],
    ['image registry.example/x:1 is not available locally and could not be pulled: manifest unknown', null, 'image'],
    ['container could not be run: exec: "nope": executable file not found in $PATH', null, 'container'],
    ['outputs could not be uploaded: the master refused the upload', 0, 'upload'],
    ['outputs rejected by storage: upload exceeds 10 bytes', 1, 'upload'],
    ['outputs could not be packed: EACCES: permission denied', 0, 'upload'],
    ['output folder could not be created: ENOSPC: no space left on device', null, 'internal'],
    ['worker shut down', null, 'worker_lost'],
    ['worker w-1 was lost (no heartbeat for 10 s); gave up after 3 attempts', null, 'worker_lost'],
    ['worker w-1 restarted and no longer runs the task; gave up after 3 attempts', null, 'worker_lost'],
    ['worker w-1 does not know the task (its assignment was lost); gave up after 3 attempts', null, 'worker_lost'],
    ['worker w-1 did not accept the task: worker is shutting down; gave up after 3 attempts', null, 'worker_lost'],
    ['worker w-1 refused the task: network access is not enabled on this worker', null, 'rejected'],
  ])('classes FAILED %j as the wording it starts with', (reason, exitCode, expected) => {
    expect(failed(reason, exitCode)).toBe(expected);
  });

  it('falls back on the exit code, then on unknown, for wording it does not know', () => {
    expect(failed('the container crashed oddly', 2)).toBe('exit_code');
    expect(failed('the container crashed oddly', 0)).toBe('unknown');
    expect(failed('', null)).toBe('unknown');
  });
});

describe('FAILURE_CLASSES_BY_STATUS', () => {
  it('names every ended status, and each class under exactly one of them', () => {
    expect(Object.keys(FAILURE_CLASSES_BY_STATUS).sort()).toEqual([...TERMINAL_STATUSES].sort());
    const listed = Object.values(FAILURE_CLASSES_BY_STATUS).flat();
    expect([...listed].sort()).toEqual([...FAILURE_CLASSES].sort());
    expect(TASK_STATUSES).toEqual(expect.arrayContaining(Object.keys(FAILURE_CLASSES_BY_STATUS)));
  });
});
