import type { ServerResponse } from 'node:http';
import { API_HEADERS, writeAll } from './http-io.js';

/** A comment line this often keeps proxies and browsers from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;
/** How long a browser's EventSource waits before reconnecting (with Last-Event-ID). */
const RETRY_MS = 2_000;

/** A text/event-stream response: events with ids a client resumes from through Last-Event-ID. */
export class EventStream {
  private readonly keepalive: NodeJS.Timeout;

  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, {
      ...API_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      // A buffering proxy (nginx) would hold events back.
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${RETRY_MS}\n\n`);
    this.keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    res.once('close', () => clearInterval(this.keepalive));
  }

  /** Sends one event; resolves false once the client has gone. */
  send(event: string, data: unknown, id?: string | number): Promise<boolean> {
    const idLine = id === undefined ? '' : `id: ${id}\n`;
    // JSON never holds a raw newline, so the data is one `data:` line.
    return writeAll(this.res, `${idLine}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    clearInterval(this.keepalive);
    if (!this.res.destroyed) this.res.end();
  }
}

/**
 * Where a stream resumes: the Last-Event-ID header a reconnecting browser
 * sends, else a `last_event_id` query parameter (for clients that cannot set
 * headers); 0 when neither is a whole number.
 */
export function lastEventId(header: string | string[] | undefined, query: URLSearchParams): number {
  const raw = (Array.isArray(header) ? header[0] : header) ?? query.get('last_event_id') ?? '';
  return /^\d{1,20}$/.test(raw.trim()) ? Number(raw.trim()) : 0;
}
