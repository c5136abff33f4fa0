import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The console's CSP: its own scripts and styles only, nothing inline, never framed. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; " +
  "frame-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const CONSOLE_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Where the console's built files are: WEB_CONSOLE_DIR, else the
 * @cloudai/web-console package's dist/ (resolved as a dependency, else where
 * it sits in this repository).
 */
export function consoleDir(configured: string | undefined): string {
  if (configured) return resolve(configured);
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@cloudai/web-console/package.json')), 'dist');
  } catch {
    return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'packages', 'web-console', 'dist');
  }
}

const NOT_BUILT_PAGE =
  '<!doctype html><html lang="en"><meta charset="utf-8"><title>cloudai: console not built</title>' +
  '<h1>console not built</h1><p>The web console\'s files are missing. Run <code>pnpm build</code> ' +
  '(or set WEB_CONSOLE_DIR to its built files); the HTTP API under /api/v1 works without them.</p></html>';

/**
 * Serves the single-page console: a file of its build when the path names
 * one, index.html for every other path (the console routes in the browser);
 * hashed /assets/* are cached for good. Without a build, a 503 page says so.
 */
export async function serveConsole(dir: string, req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
  const file = await existingFile(dir, pathname);
  const index = file ?? (await existingFile(dir, '/index.html'));
  if (!index) {
    res.writeHead(503, { ...CONSOLE_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(NOT_BUILT_PAGE);
    return;
  }
  const immutable = file !== undefined && pathname.startsWith('/assets/');
  res.writeHead(200, {
    ...CONSOLE_HEADERS,
    'content-type': TYPES[extname(index.path).toLowerCase()] ?? 'application/octet-stream',
    'content-length': index.size,
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(index.path).pipe(res);
}

/** The regular file `pathname` names inside `dir`; never one outside it. */
async function existingFile(dir: string, pathname: string): Promise<{ path: string; size: number } | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const path = resolve(dir, `.${decoded}`);
  if (path !== dir && !path.startsWith(dir + sep)) return undefined;
  const st = await stat(path).catch(() => undefined);
  return st?.isFile() ? { path, size: st.size } : undefined;
}
