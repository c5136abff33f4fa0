import { uuidv7 } from 'uuidv7';

/**
 * A new task id: UUIDv7, so ids are unique even for many submissions in the
 * same millisecond and sort by creation time.
 */
export function newTaskId(): string {
  return uuidv7();
}

export function newAssignmentId(): string {
  return uuidv7();
}

/** "registry:5000/team/my-image:1.0@sha256:..." → "my-image". */
export function imageBasename(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const last = noDigest.split('/').pop() ?? noDigest;
  const name = last.split(':')[0] ?? last;
  return name || 'task';
}

/** The seed's default task name: "<image-basename>-<unix seconds>". */
export function defaultTaskName(image: string, submittedAt: Date): string {
  return `${imageBasename(image)}-${Math.floor(submittedAt.getTime() / 1000)}`;
}
