import { isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * Why `path` (as the master named a file) may not be written under `root`,
 * or undefined when it may. Paths come from the network, so anything that
 * could climb out of the download folder is refused, not normalised.
 */
export function unsafePathReason(path: string, root: string): string | undefined {
  if (path === '') return 'it is empty';
  if (path.includes('\u0000')) return 'it contains NUL';
  if (path.includes('\\')) return 'it contains a backslash';
  if (path.startsWith('/') || isAbsolute(path)) return 'it is absolute';
  const segments = path.split('/');
  if (segments.includes('..')) return 'it contains ..';
  if (segments.some((s) => s === '' || s === '.')) return 'it has an empty or . segment';
  const base = resolve(root);
  const rel = relative(base, resolve(base, path));
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) return 'it is outside the download folder';
  return undefined;
}

/** Whether `child` (an absolute, resolved path) is `parent` or inside it. */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}
