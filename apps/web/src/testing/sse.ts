/** One server-sent event as a client receives it. */
export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * Reads server-sent events from a fetch response until `done` says so (or
 * the stream ends), then cancels the body: what a browser's EventSource
 * does, without one.
 */
export async function readEvents(res: Response, done: (events: SseEvent[]) => boolean): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields: Record<string, string> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          if (colon < 0) continue;
          fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '');
        }
        if (fields.data !== undefined) events.push({ id: fields.id, event: fields.event ?? 'message', data: fields.data });
        if (done(events)) break;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return events;
}
