import { extname } from 'node:path';

/**
 * The types an output may be shown inline as: none of them can run script in
 * our origin. HTML, SVG, JavaScript and everything else a task writes is
 * only ever served as application/octet-stream, as an attachment.
 */
const INLINE_TYPES: Record<string, string> = {
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.out': 'text/plain; charset=utf-8',
  '.err': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.csv': 'text/csv',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
};

export const OPAQUE_TYPE = 'application/octet-stream';

/** The type an output file is served as, and whether it may be inline. */
export function outputFileType(path: string): { contentType: string; inlineAllowed: boolean } {
  const type = INLINE_TYPES[extname(path).toLowerCase()];
  return type ? { contentType: type, inlineAllowed: true } : { contentType: OPAQUE_TYPE, inlineAllowed: false };
}

/** A Content-Disposition naming the file: an ASCII fallback, and the real name in RFC 5987 form. */
export function contentDisposition(kind: 'inline' | 'attachment', path: string): string {
  const name = path.split('/').at(-1) || 'file';
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
