import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '@cloudai/config';
import { tempDir, type TempDir } from '@cloudai/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newJoinSecret } from './join-secret.js';
import { loadOrCreateSecret, loadOrCreateSigningKey, readSecret } from './secret-files.js';

let dir: TempDir;
beforeEach(async () => {
  dir = await tempDir('cloudai-auth-');
});
afterEach(async () => {
  await dir.remove();
});

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe('loadOrCreateSigningKey', () => {
  it('creates the key 0600 in a new 0700 folder, then loads the same key', async () => {
    const path = join(dir.path, 'master', 'keys', 'signing-key.pem');
    const first = await loadOrCreateSigningKey(path);
    expect(first.created).toBe(true);
    expect(await modeOf(path)).toBe(0o600);
    expect(await modeOf(join(dir.path, 'master', 'keys'))).toBe(0o700);
    expect(await readFile(path, 'utf8')).toBe(`${first.value.privateKeyPem()}\n`);

    const second = await loadOrCreateSigningKey(path);
    expect(second.created).toBe(false);
    expect(second.value.publicKeyPem()).toBe(first.value.publicKeyPem());
    expect(await readdir(join(dir.path, 'master', 'keys'))).toEqual(['signing-key.pem']);
  });

  it.each(['0644', '0640', '0604', '0610'])('refuses a key file with mode %s, as ssh does', async (octal) => {
    const mode = Number.parseInt(octal, 8);
    const path = join(dir.path, 'signing-key.pem');
    await loadOrCreateSigningKey(path);
    await chmod(path, mode);
    const loading = loadOrCreateSigningKey(path);
    await expect(loading).rejects.toThrow(ConfigError);
    await expect(loading).rejects.toThrow(
      `${path} holds a secret but is accessible by group or others (mode ${octal}); run: chmod 600 ${path}`,
    );
  });

  it('refuses a file that is not a PEM Ed25519 key, and never rewrites it', async () => {
    const path = join(dir.path, 'signing-key.pem');
    await writeFile(path, 'not a key\n', { mode: 0o600 });
    await expect(loadOrCreateSigningKey(path)).rejects.toThrow(`${path} does not hold an Ed25519 private key`);
    expect(await readFile(path, 'utf8')).toBe('not a key\n');
  });
});

describe('loadOrCreateSecret', () => {
  it('writes make() once, 0600, and returns the stored value after that', async () => {
    const path = join(dir.path, 'master', 'join-token');
    const made = newJoinSecret();
    expect(await loadOrCreateSecret(path, () => made)).toEqual({ value: made, created: true });
    expect(await modeOf(path)).toBe(0o600);
    expect(await loadOrCreateSecret(path, () => newJoinSecret())).toEqual({ value: made, created: false });
  });

  it('gives every one of 20 concurrent callers the same value, made by exactly one', async () => {
    const path = join(dir.path, 'master', 'bootstrap-token');
    const loaded = await Promise.all(
      Array.from({ length: 20 }, (_, i) => loadOrCreateSecret(path, () => `secret-${i}-${newJoinSecret()}`)),
    );
    const winner = loaded.filter((l) => l.created);
    expect(winner).toHaveLength(1);
    expect(new Set(loaded.map((l) => l.value))).toEqual(new Set([winner[0]?.value]));
    expect(await readFile(path, 'utf8')).toBe(`${winner[0]?.value}\n`);
    expect(await readdir(join(dir.path, 'master'))).toEqual(['bootstrap-token']);
  });

  it('refuses a secret file others can read, an empty one and a folder in its place', async () => {
    const shared = join(dir.path, 'shared');
    await writeFile(shared, 'caj_x\n', { mode: 0o644 });
    await chmod(shared, 0o644);
    await expect(loadOrCreateSecret(shared, newJoinSecret)).rejects.toThrow(/mode 0644\); run: chmod 600/);

    const empty = join(dir.path, 'empty');
    await writeFile(empty, ' \n', { mode: 0o600 });
    await expect(loadOrCreateSecret(empty, newJoinSecret)).rejects.toThrow(`${empty} is empty`);

    const folder = join(dir.path, 'folder');
    await mkdir(folder);
    await expect(loadOrCreateSecret(folder, newJoinSecret)).rejects.toThrow(`${folder} is not a regular file`);
  });

  it('refuses to store a value that would not read back the same', async () => {
    const path = join(dir.path, 'secret');
    await expect(loadOrCreateSecret(path, () => ' padded')).rejects.toThrow(/must be non-empty/);
    await expect(loadOrCreateSecret(path, () => 'two\nlines')).rejects.toThrow(/must be non-empty/);
    await expect(loadOrCreateSecret(path, () => '')).rejects.toThrow(/must be non-empty/);
    expect(await readdir(dir.path)).toEqual([]);
  });
});

describe('readSecret', () => {
  const NAME = 'CLOUDAI_JOIN_TOKEN';

  it('takes the value, trimmed', async () => {
    expect(await readSecret({ value: ' caj_abc\n' }, NAME)).toBe('caj_abc');
  });

  it('takes the file, trimmed, whatever its mode (Docker and Kubernetes mount secrets 0444 or 0644)', async () => {
    const file = join(dir.path, 'join-token');
    await writeFile(file, 'caj_from_file\n', { mode: 0o644 });
    expect(await readSecret({ file }, NAME)).toBe('caj_from_file');
    expect(await readSecret({ value: '', file }, NAME)).toBe('caj_from_file');
  });

  it('refuses both at once, naming both', async () => {
    const file = join(dir.path, 'join-token');
    await writeFile(file, 'caj_b');
    await expect(readSecret({ value: 'caj_a', file }, NAME)).rejects.toThrow(
      new ConfigError('CLOUDAI_JOIN_TOKEN and CLOUDAI_JOIN_TOKEN_FILE are both set; set only one'),
    );
  });

  it('refuses neither, unless optional', async () => {
    await expect(readSecret({}, NAME)).rejects.toThrow('set CLOUDAI_JOIN_TOKEN or CLOUDAI_JOIN_TOKEN_FILE');
    await expect(readSecret({ value: '', file: '' }, NAME)).rejects.toThrow(ConfigError);
    expect(await readSecret({}, NAME, { optional: true })).toBeUndefined();
    expect(await readSecret({ value: 'caj_a' }, NAME, { optional: true })).toBe('caj_a');
  });

  it('says which variable is wrong, never its value', async () => {
    const file = join(dir.path, 'join-token');
    await writeFile(file, '  \n');
    await expect(readSecret({ file }, NAME)).rejects.toThrow(`CLOUDAI_JOIN_TOKEN_FILE (${file}) is empty`);
    await expect(readSecret({ value: '   ' }, NAME)).rejects.toThrow('CLOUDAI_JOIN_TOKEN is empty');
    await expect(readSecret({ value: 'caj_\u0007bell' }, NAME)).rejects.toThrow(
      /^CLOUDAI_JOIN_TOKEN contains control characters$/,
    );
    const missing = join(dir.path, 'missing');
    await expect(readSecret({ file: missing }, NAME)).rejects.toThrow(
      `CLOUDAI_JOIN_TOKEN_FILE: cannot read ${missing}: ENOENT`,
    );
    const big = join(dir.path, 'big');
    await writeFile(big, 'x'.repeat(70_000));
    await expect(readSecret({ file: big }, NAME)).rejects.toThrow(/^CLOUDAI_JOIN_TOKEN_FILE: .* is 70000 bytes/);
    await expect(readSecret({ file: dir.path }, NAME)).rejects.toThrow(/is not a regular file/);
  });
});
