import type { EventKind } from '@cloudai/domain';

/** An event as a component reports it; the event log fills in the time and what is left out. */
export interface NewEvent {
  kind: EventKind;
  taskId?: string | null;
  workerId?: string | null;
  /** the task's owner for a task's events; the user an action on users or tokens concerns */
  userId?: string | null;
  /** who did it, for what a user or admin did */
  actor?: string | null;
  attempt?: number;
  /** one line for people; cut to MAX_EVENT_MESSAGE_LENGTH */
  message: string;
  reason?: string;
}

/** Where components report what happened; recording never throws and never waits. */
export interface EventSink {
  record(event: NewEvent): void;
}
