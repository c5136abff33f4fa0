import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api-error.js';

/** The largest JSON body a request may send (a task spec with its env and command is far smaller). */
const MAX_BODY_BYTES = 1024 * 1024;

/** Headers every API answer carries: nothing in it is ever sniffed, framed or cached by a shared cache. */
export const API_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; sandbox",
  'referrer-policy': 'no-referrer',
} as const;

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string | string[]> = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { ...API_HEADERS, 'content-type': 'application/json', 'content-length': body.length, ...headers });
  res.end(body);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, err.toJSON());
}

/**
 * Writes `data`, waiting for the socket to drain when its buffer is full, so a
 * slow client slows the transfer instead of filling memory. Resolves false
 * when the client has gone.
 */
export async function writeAll(res: ServerResponse, data: Uint8Array | string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(data)) return true;
  await Promise.race([once(res, 'drain'), once(res, 'close')]);
  return !res.destroyed;
}

/**
 * The request's JSON body, which must be declared as application/json: a
 * form posted from another site cannot send that without the browser asking
 * first (a CORS preflight this server never grants).
 */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new ApiError('unsupported_media_type', 'the body must be JSON, sent as Content-Type: application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError('payload_too_large', `the body must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new ApiError('invalid_argument', 'the body is not valid JSON', 'body');
  }
}
