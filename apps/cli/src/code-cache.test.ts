import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTask } from './testing/fake-master.js';
import { CLI_PATH, cliEnv, runCli } from './testing/run-cli.js';
import { useFakeMaster } from './testing/use-fake-master.js';

const { master, env } = useFakeMaster();
beforeEach(() => master.setHandlers({ listTasks: async () => ({ tasks: [makeTask()], nextPageToken: '' }) }));

// The bin runs the bundle with a V8 code cache in the user's cache folder.
// A cache is an optimisation only: whatever is in that folder, or if it
// cannot be written, the CLI does the same.

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function cacheHome(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloudai-code-cache-'));
  made.push(dir);
  return dir;
}

function cloudai(args: string[], env: Record<string, string>, nodeOptions: string[] = []) {
  const res = spawnSync(process.execPath, [...nodeOptions, CLI_PATH, ...args], { env: cliEnv(env), encoding: 'utf8' });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

function cacheFiles(home: string): string[] {
  return readdirSync(join(home, 'cloudai', 'code-cache')).map((name) => join(home, 'cloudai', 'code-cache', name));
}

describe('the code cache of the cloudai bin', () => {
  it('is written after the first run, private to the user, and used by the next', () => {
    const home = cacheHome();
    const first = cloudai(['--help'], { XDG_CACHE_HOME: home });
    expect(first.code).toBe(0);
    const [file, ...others] = cacheFiles(home);
    expect(others).toEqual([]);
    expect(file).toMatch(/[0-9a-f]{32}\.local\.v8cache$/);
    expect(statSync(file!).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'cloudai', 'code-cache')).mode & 0o777).toBe(0o700);
    const written = statSync(file!).mtimeMs;
    const second = cloudai(['--help'], { XDG_CACHE_HOME: home });
    expect(second).toEqual(first);
    // Accepted, so left alone.
    expect(statSync(file!).mtimeMs).toBe(written);
  });

  // A run that called the master compiled the gRPC code every such command needs; a local run (help, completion) did not.
  it("is replaced by the first run that calls the master, whose cache later local runs keep", async () => {
    const home = cacheHome();
    expect(cloudai(['--help'], { XDG_CACHE_HOME: home }).code).toBe(0);
    const listed = await runCli(['list'], { ...env, XDG_CACHE_HOME: home });
    expect(listed.code).toBe(0);
    const [file, ...others] = cacheFiles(home);
    expect(others).toEqual([]);
    expect(file).toMatch(/[0-9a-f]{32}\.v8cache$/);
    expect(file).not.toMatch(/\.local\./);
    const written = statSync(file!).mtimeMs;
    expect(cloudai(['--help'], { XDG_CACHE_HOME: home }).code).toBe(0);
    expect((await runCli(['list'], { ...env, XDG_CACHE_HOME: home })).stdout).toBe(listed.stdout);
    expect(cacheFiles(home)).toEqual([file]);
    expect(statSync(file!).mtimeMs).toBe(written);
  });

  it('survives a cache file that is garbage, and replaces it', () => {
    const home = cacheHome();
    const expected = cloudai(['--help'], { XDG_CACHE_HOME: home });
    const [file] = cacheFiles(home);
    writeFileSync(file!, Buffer.alloc(4096, 0x5a));
    expect(cloudai(['--help'], { XDG_CACHE_HOME: home })).toEqual(expected);
    expect(readFileSync(file!).equals(Buffer.alloc(4096, 0x5a))).toBe(false);
  });

  it('runs the same when the cache folder cannot be made', () => {
    const home = cacheHome();
    const notAFolder = join(home, 'file');
    writeFileSync(notAFolder, '');
    const res = cloudai(['list', '--help'], { XDG_CACHE_HOME: notAFolder });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    expect(res.stdout.startsWith('Usage: cloudai list ')).toBe(true);
  });

  it('is left out under --enable-source-maps, so stack traces map to the sources', () => {
    const home = cacheHome();
    const res = cloudai(['--help'], { XDG_CACHE_HOME: home }, ['--enable-source-maps']);
    expect(res.code).toBe(0);
    expect(res.stdout.startsWith('Usage: cloudai ')).toBe(true);
    expect(() => cacheFiles(home)).toThrow(/ENOENT/);
  });

  // V8 checks a cache against the source's length only: a cache made from
  // another bundle of the same length runs that bundle's code. One that
  // someone else could have written must never be used.
  it('is not used, nor written, where someone else could have put it', () => {
    const home = cacheHome();
    const real = cloudai(['-V'], { XDG_CACHE_HOME: home });
    expect(real.code).toBe(0);
    const [file] = cacheFiles(home);
    const folder = dirname(file!);

    // The attacker's bundle: the same length, another version, and its cache.
    const forged = cacheHome();
    const dist = dirname(CLI_PATH);
    for (const name of ['main.js', 'code-cache-files.js', 'v8-flags.js']) copyFileSync(join(dist, name), join(forged, name));
    writeFileSync(join(forged, 'package.json'), '{"type":"module"}');
    const version = real.stdout.trim();
    const other = version.replace(/\d/g, '6');
    writeFileSync(join(forged, 'cloudai.cjs'), readFileSync(join(dist, 'cloudai.cjs'), 'utf8').replaceAll(`"${version}"`, `"${other}"`));
    const forgedHome = cacheHome();
    const spawned = spawnSync(process.execPath, [join(forged, 'main.js'), '-V'], { env: cliEnv({ XDG_CACHE_HOME: forgedHome }), encoding: 'utf8' });
    expect(spawned.stdout.trim()).toBe(other);
    const planted = readFileSync(cacheFiles(forgedHome)[0]!);

    // Planted where only the user could write it, it is the user's own cache: used (what makes the rest matter).
    writeFileSync(file!, planted, { mode: 0o600 });
    expect(cloudai(['-V'], { XDG_CACHE_HOME: home }).stdout.trim()).toBe(other);

    // A folder others may write to.
    chmodSync(folder, 0o777);
    expect(cloudai(['-V'], { XDG_CACHE_HOME: home }).stdout.trim()).toBe(version);
    expect(readFileSync(file!).equals(planted)).toBe(true);
    chmodSync(folder, 0o700);
    chmodSync(dirname(folder), 0o757);
    expect(cloudai(['-V'], { XDG_CACHE_HOME: home }).stdout.trim()).toBe(version);
    chmodSync(dirname(folder), 0o700);

    // A file others may write to.
    chmodSync(file!, 0o666);
    expect(cloudai(['-V'], { XDG_CACHE_HOME: home }).stdout.trim()).toBe(version);

    // A link to a cache elsewhere.
    rmSync(file!);
    const elsewhere = join(forgedHome, 'planted.v8cache');
    writeFileSync(elsewhere, planted, { mode: 0o600 });
    symlinkSync(elsewhere, file!);
    expect(cloudai(['-V'], { XDG_CACHE_HOME: home }).stdout.trim()).toBe(version);
  });
});
