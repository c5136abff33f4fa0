import { describe, expect, it } from 'vitest';
import { defaultTaskName, imageBasename, newAssignmentId, newTaskId } from './names.js';

describe('imageBasename', () => {
  it.each([
    ['registry:5000/team/img:1.0@sha256:abc', 'img'],
    ['img', 'img'],
    ['img:tag', 'img'],
    ['registry:5000/img', 'img'],
    ['ghcr.io/org/sub/my-image', 'my-image'],
    ['img@sha256:abc', 'img'],
  ])('%s → %s', (image, expected) => {
    expect(imageBasename(image)).toBe(expected);
  });

  it('falls back to "task" when there is no name at all', () => {
    expect(imageBasename('')).toBe('task');
    expect(imageBasename('@sha256:abc')).toBe('task');
  });
});

describe('defaultTaskName', () => {
  it('is <image-basename>-<unix seconds>', () => {
    expect(defaultTaskName('registry:5000/team/img:1.0', new Date('2024-05-01T12:00:00.999Z'))).toBe(
      `img-${Date.UTC(2024, 4, 1, 12) / 1000}`,
    );
  });
});

describe('newTaskId', () => {
  // The seed used task-<unix seconds>, which collided for submissions in the same second.
  it('gives 10,000 distinct ids in a tight loop', () => {
    const ids = Array.from({ length: 10_000 }, () => newTaskId());
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sorts by creation order, even within one millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => newTaskId());
    expect([...ids].sort()).toEqual(ids);
  });

  it('sorts after ids made earlier in time', async () => {
    const before = newTaskId();
    await new Promise((r) => setTimeout(r, 5));
    expect(newTaskId() > before).toBe(true);
  });

  it('is a UUIDv7, and assignment ids are distinct from task ids', () => {
    const id = newTaskId();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(newAssignmentId()).not.toBe(id);
  });
});
