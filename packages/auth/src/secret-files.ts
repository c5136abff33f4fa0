import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { link, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '@cloudai/config';
import { hasControlChars } from '@cloudai/domain';
import { SigningKey } from './signing-key.js';

// Files that hold the master's key, the join secret and the bootstrap token.
// They are created mode 0600 in a folder created 0700, and, as ssh does with
// its keys, refused when group or others have any access: a secret others can
// read is no longer the cluster's alone.

/** More than any key or token needs; a bigger file is not one of ours. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

export interface Loaded<T> {
  value: T;
  /** true when this call made it (and wrote the file); false when it was already there */
  created: boolean;
}

/** Where a secret comes from: the value itself, or a file holding it (NAME / NAME_FILE env pairs). */
export interface SecretSource {
  value?: string | undefined;
  file?: string | undefined;
}

/** Reads the Ed25519 key at `path`, or makes one and writes it there as PKCS#8 PEM. */
export async function loadOrCreateSigningKey(path: string): Promise<Loaded<SigningKey>> {
  const { value: pem, created } = await loadOrCreateFile(path, () => SigningKey.generate().privateKeyPem());
  try {
    return { value: SigningKey.fromPem(pem), created };
  } catch (err) {
    throw new ConfigError(`${path} does not hold an Ed25519 private key in PEM form`, { cause: err });
  }
}

/**
 * Reads the secret at `path`, or stores `make()` there. Processes starting at
 * the same time agree on one value: the file appears whole and exactly once
 * (a complete temporary file is hard-linked into place, which fails if the
 * name exists), and every loser reads the winner's.
 */
export async function loadOrCreateSecret(path: string, make: () => string): Promise<Loaded<string>> {
  return loadOrCreateFile(path, () => {
    const value = make();
    if (value === '' || value.trim() !== value || hasControlChars(value)) {
      throw new Error(`a secret for ${path} must be non-empty, without surrounding space or control characters`);
    }
    return value;
  });
}

/**
 * The secret from a NAME / NAME_FILE pair: exactly one must be set (empty
 * counts as unset); a file's content is trimmed. Errors name the variables,
 * never the value. With `{ optional: true }`, neither set gives undefined.
 */
export async function readSecret(source: SecretSource, name: string): Promise<string>;
export async function readSecret(
  source: SecretSource,
  name: string,
  options: { optional: true },
): Promise<string | undefined>;
export async function readSecret(
  { value, file }: SecretSource,
  name: string,
  { optional = false }: { optional?: boolean } = {},
): Promise<string | undefined> {
  const fileName = `${name}_FILE`;
  const given = value !== undefined && value !== '';
  const fromFile = file !== undefined && file !== '';
  if (given && fromFile) throw new ConfigError(`${name} and ${fileName} are both set; set only one`);
  if (given) return checkedSecret(value.trim(), name);
  if (fromFile) {
    let content: string;
    try {
      content = await readSmallFile(file, () => undefined);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${fileName}: ${err.message}`, { cause: err });
      throw new ConfigError(`${fileName}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
        cause: err,
      });
    }
    return checkedSecret(content.trim(), `${fileName} (${file})`);
  }
  if (optional) return undefined;
  throw new ConfigError(`set ${name} or ${fileName}`);
}

function checkedSecret(secret: string, source: string): string {
  if (secret === '') throw new ConfigError(`${source} is empty`);
  if (hasControlChars(secret)) throw new ConfigError(`${source} contains control characters`);
  return secret;
}

async function loadOrCreateFile(path: string, make: () => string): Promise<Loaded<string>> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const existing = await readPrivateFile(path);
  if (existing !== undefined) return { value: existing, created: false };

  const value = make();
  // Same folder, so the link stays on one filesystem.
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, `${value}\n`, { flag: 'wx', mode: 0o600, flush: true });
    await link(temporary, path);
    await syncFolder(dirname(path));
    return { value, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await rm(temporary, { force: true });
  }
  const winner = await readPrivateFile(path);
  if (winner === undefined) throw new Error(`${path} was created by another process and then removed`);
  return { value: winner, created: false };
}

/** The trimmed content of a secret file we own, or undefined if there is none. */
async function readPrivateFile(path: string): Promise<string | undefined> {
  try {
    const content = (await readSmallFile(path, (stats) => refuseShared(path, stats))).trim();
    if (content === '') throw new ConfigError(`${path} is empty`);
    return content;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function refuseShared(path: string, stats: Stats): void {
  if ((stats.mode & 0o077) !== 0) {
    const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
    throw new ConfigError(
      `${path} holds a secret but is accessible by group or others (mode ${mode}); run: chmod 600 ${path}`,
    );
  }
}

/** Reads a regular file of at most MAX_SECRET_FILE_BYTES, checking it first with `check`. */
async function readSmallFile(path: string, check: (stats: Stats) => void): Promise<string> {
  // Checked on the open descriptor, so the file read is the file checked;
  // O_NONBLOCK so that a FIFO in its place cannot hang the open.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new ConfigError(`${path} is not a regular file`);
    check(stats);
    if (stats.size > MAX_SECRET_FILE_BYTES) {
      throw new ConfigError(`${path} is ${stats.size} bytes; a secret file is at most ${MAX_SECRET_FILE_BYTES}`);
    }
    return (await handle.readFile()).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** So that a crash right after creating the file cannot lose its name (and with it the only copy of a token). */
async function syncFolder(path: string): Promise<void> {
  const folder = await open(path, constants.O_RDONLY);
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}
