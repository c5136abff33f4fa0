import { createHash } from 'node:crypto';
import { MAX_OUTPUT_PATH_BYTES as MAX_PATH_BYTES, MAX_PATH_SEGMENT_BYTES as MAX_SEGMENT_BYTES } from '@cloudai/domain';
import { invalidArgument } from '@cloudai/rpc';

/** Hash suffix length (hex chars) that keeps two altered names apart. */
const SUFFIX_HEX = 8;

/**
 * Characters never allowed in a segment built from a user-typed name:
 * separators for either OS, NUL and the C0/C1 control characters (they
 * corrupt terminals and log lines), and the Unicode line/paragraph
 * separators and bidi overrides that make a name display as something else.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[/\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * A user-typed name (user id, task name, task id) as one safe directory
 * name. The result never contains a separator, NUL or control character,
 * never starts with "." (so it can be neither "."/".." nor the hidden
 * `.incoming` folder), and fits in 255 bytes. Whenever the name had to be
 * altered, a short hash of the original is appended so that two different
 * names ("a/b" and "a_b") never share a folder.
 */
export function sanitizeSegment(name: string): string {
  // Unicode equivalents (é as one code point or as e + accent) are the same
  // name to the user, so they share one folder.
  const nfc = name.normalize('NFC');
  let safe = nfc.replace(UNSAFE, '_');
  if (safe.startsWith('.')) safe = `_${safe.slice(1)}`;
  if (safe === '') safe = '_';
  if (safe === nfc && Buffer.byteLength(safe) <= MAX_SEGMENT_BYTES) return safe;
  const suffix = `~${createHash('sha256').update(nfc).digest('hex').slice(0, SUFFIX_HEX)}`;
  return truncateUtf8(safe, MAX_SEGMENT_BYTES - suffix.length) + suffix;
}

/** The longest prefix of `s` that fits in `maxBytes` of UTF-8, cut between code points. */
function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let bytes = 0;
  let out = '';
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    bytes += n;
    out += ch;
  }
  return out;
}

/**
 * A task's folder relative to the storage root:
 * `<user>/<task_name>/<unix seconds>/<task_id>`, each part sanitized.
 */
export function taskDir(userId: string, taskName: string, submittedAt: Date, taskId: string): string {
  const seconds = Math.floor(submittedAt.getTime() / 1000);
  if (!Number.isFinite(seconds)) throw new RangeError('submittedAt is not a valid date');
  return [sanitizeSegment(userId), sanitizeSegment(taskName), String(seconds), sanitizeSegment(taskId)].join('/');
}

/**
 * A tar entry's path as validated segments: relative, no "..", no NUL or
 * backslash, no drive letter, each segment at most MAX_SEGMENT_BYTES, the
 * whole at most MAX_PATH_BYTES and at most `maxDepth` deep. "." and empty
 * segments are dropped.
 */
export function safeSegments(path: string, maxDepth: number): string[] {
  const shown = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
  if (path.includes('\0')) throw invalidArgument(`tar entry ${shown} contains a NUL byte`);
  if (path.startsWith('/')) throw invalidArgument(`tar entry ${shown} is an absolute path`);
  // Backslashes are separators on Windows, where these files may be
  // downloaded to; a drive letter would make the path absolute there.
  if (path.includes('\\')) throw invalidArgument(`tar entry ${shown} contains a backslash`);
  if (/^[A-Za-z]:/.test(path)) throw invalidArgument(`tar entry ${shown} starts with a drive letter`);
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw invalidArgument(`tar entry ${shown} is longer than ${MAX_PATH_BYTES} bytes`);
  }
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw invalidArgument(`tar entry ${shown} contains a ".." segment`);
  if (segments.length > maxDepth) {
    throw invalidArgument(`tar entry ${shown} is nested ${segments.length} levels deep; the limit is ${maxDepth}`);
  }
  for (const s of segments) {
    if (Buffer.byteLength(s) > MAX_SEGMENT_BYTES) {
      throw invalidArgument(`tar entry ${shown} has a name longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
  }
  return segments;
}
