import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

// The cloudai bin runs whatever compiled code its cache holds: V8 checks a
// cache against its own version and flags, and against only the length of
// the source. A cache anyone but the user could have written is therefore
// code anyone could make the user run (a shared XDG_CACHE_HOME, HOME=/tmp in
// a container, `sudo cloudai` with the user's HOME), and is not used.
// Imports only Node's built-in modules, like main.ts.

const uid = process.geteuid?.();

/** Ours, a real folder (not a link), and writable by nobody else. */
function trustedFolder(path: string): boolean {
  try {
    const stat = lstatSync(path);
    return stat.isDirectory() && (uid === undefined || stat.uid === uid) && (stat.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** The cache folder and its `cloudai` parent can both be trusted. */
function trustedCacheFolder(dir: string): boolean {
  return trustedFolder(dirname(dir)) && trustedFolder(dir);
}

/**
 * The cache in `file`, if the folder and the file can be trusted: a regular
 * file (a link is not followed), the user's own, readable by nobody else.
 */
export function readCodeCache(dir: string, file: string): Buffer | undefined {
  if (!trustedCacheFolder(dir)) return undefined;
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o077) !== 0) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Stores `data` as `file` (0600) in `dir` (made 0700), replacing the other
 * caches there; nothing when the folder cannot be trusted. Written whole,
 * then renamed: another cloudai starting now never reads half a cache.
 * Throws when it cannot write; only the next start is slower then.
 */
export function writeCodeCache(dir: string, file: string, suffix: string, data: Buffer): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!trustedCacheFolder(dir)) return;
  const partial = `${file}.${process.pid}.partial`;
  // O_EXCL with O_NOFOLLOW: never through a link planted under that name.
  const fd = openSync(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for (let at = 0; at < data.length; ) at += writeSync(fd, data, at);
  } finally {
    closeSync(fd);
  }
  renameSync(partial, file);
  for (const name of readdirSync(dir)) {
    if (name.endsWith(suffix) && join(dir, name) !== file) rmSync(join(dir, name), { force: true });
  }
}
