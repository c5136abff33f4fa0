import { describe, expect, it } from 'vitest';
import { TASK_STATUSES, TERMINAL_STATUSES, isTerminal, type TaskStatus } from './status.js';
import { canMove, TASK_TRANSITIONS } from './transitions.js';

describe('TASK_TRANSITIONS', () => {
  it('never leaves a terminal status', () => {
    for (const t of Object.values(TASK_TRANSITIONS)) {
      for (const from of t.from) expect(isTerminal(from), `${from} is a source`).toBe(false);
    }
    for (const from of TERMINAL_STATUSES) {
      for (const to of TASK_STATUSES) expect(canMove(from, to)).toBe(false);
    }
  });

  it('reaches every status from QUEUED', () => {
    const seen = new Set<TaskStatus>(['QUEUED']);
    for (let grew = true; grew; ) {
      grew = false;
      for (const t of Object.values(TASK_TRANSITIONS)) {
        if (!t.from.some((s) => seen.has(s))) continue;
        for (const to of t.to) if (!seen.has(to)) grew = seen.add(to).size > 0;
      }
    }
    expect([...seen].sort()).toEqual([...TASK_STATUSES].sort());
  });

  // The lifecycle as DESIGN.md draws it, edge by edge.
  it.each([
    ['QUEUED', 'SCHEDULED', true],
    ['SCHEDULED', 'RUNNING', true],
    ['RUNNING', 'UPLOADING', true],
    ['UPLOADING', 'SUCCEEDED', true],
    ['RUNNING', 'FAILED', true],
    ['RUNNING', 'TIMED_OUT', true],
    ['RUNNING', 'QUEUED', true],
    ['QUEUED', 'CANCELLED', true],
    ['UPLOADING', 'CANCELLED', true],
    ['QUEUED', 'RUNNING', false],
    ['RUNNING', 'SCHEDULED', false],
    ['UPLOADING', 'RUNNING', false],
    ['QUEUED', 'SUCCEEDED', false],
    ['QUEUED', 'FAILED', false],
  ] as const)('%s → %s is %s', (from, to, allowed) => {
    expect(canMove(from, to)).toBe(allowed);
  });

  it('takes an undelivered assignment back only before the worker reported anything', () => {
    expect(TASK_TRANSITIONS.undeliver.from).toEqual(['SCHEDULED']);
  });
});
