// S3's longest key, in UTF-8 bytes.
const MAX_KEY_BYTES = 1024;

/**
 * Whether `path` ("a/b", or "a/b/" with `trailingSlash`) is a plain
 * relative path: no leading "/", no empty, "." or ".." segment, no control
 * character or backslash.
 */
export function isPlainRelativePath(path: string, { trailingSlash = false } = {}): boolean {
  const body = trailingSlash && path.endsWith('/') ? path.slice(0, -1) : path;
  if (path.startsWith('/') || path.includes('\\')) return false;
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return body.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

function checkPath(what: string, value: string, options?: { trailingSlash: boolean }): void {
  if (!isPlainRelativePath(value, options)) {
    throw new RangeError(
      `${what} must be a relative path (no leading /, no empty, . or .. segments, no control characters or backslashes), got ${JSON.stringify(value)}`,
    );
  }
}

/**
 * The full key of the object `name` under the store's `prefix`. Names are
 * paths: a name that would read differently on a filesystem (`a//b`,
 * `a/../b`) is refused rather than stored, so keys and paths stay one-to-one.
 */
export function objectKey(prefix: string, name: string): string {
  checkPath('object name', name);
  const key = prefix + name;
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new RangeError(`object key ${JSON.stringify(key)} is longer than S3's ${MAX_KEY_BYTES} bytes`);
  }
  return key;
}

/**
 * The full key prefix for `namePrefix` under the store's `prefix`: "" (the
 * whole store) or a path, with or without its trailing "/" (without one,
 * "task1" also matches "task10/…"). `folder` demands the "/".
 */
export function keyPrefix(prefix: string, namePrefix: string, { folder = false } = {}): string {
  if (folder && !namePrefix.endsWith('/')) {
    throw new RangeError(`prefix must name a folder, ending with "/", got ${JSON.stringify(namePrefix)}`);
  }
  if (namePrefix !== '') checkPath('prefix', namePrefix, { trailingSlash: true });
  return prefix + namePrefix;
}
