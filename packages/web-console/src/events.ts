import { useEffect, useRef } from 'react';
import { apiUrl } from './api/client.js';
import type { TaskEvent } from './api/types.js';

/**
 * Calls `onEvent` for every event of GET /events while the component is
 * shown; EventSource reconnects by itself and resumes with Last-Event-ID.
 */
export function useTaskEvents(onEvent: (event: TaskEvent) => void, enabled = true): void {
  const handler = useRef(onEvent);
  useEffect(() => {
    handler.current = onEvent;
  });
  useEffect(() => {
    if (!enabled) return undefined;
    const source = new EventSource(apiUrl('/events'));
    const listener = (e: MessageEvent<string>) => {
      try {
        handler.current(JSON.parse(e.data) as TaskEvent);
      } catch {
        // An event this console cannot read changes nothing on screen.
      }
    };
    source.addEventListener('event', listener);
    return () => source.close();
  }, [enabled]);
}
