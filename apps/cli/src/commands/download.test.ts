import type { DownloadFilesRequest, DownloadFilesResponse } from '@cloudai/proto';
import { waitFor } from '@cloudai/testing';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, type Dirent } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI_PATH, runCli, cliEnv } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloudai-download-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface ServedFile {
  path: string;
  data: Buffer;
  /** what the header claims, when it should differ from the data */
  sha256?: string;
  size?: number;
  /** bytes actually sent, when the stream should deliver something else */
  sent?: Buffer;
}

/** DownloadFiles sends each file (or only the requested one) as a header and 64 KiB chunks. */
function serveFiles(files: ServedFile[]) {
  master.setHandlers({
    async *downloadFiles(req: DownloadFilesRequest): AsyncGenerator<DownloadFilesResponse> {
      for (const f of files) {
        if (req.path !== '' && req.path !== f.path) continue;
        yield { file: { path: f.path, size: f.size ?? f.data.length, sha256: f.sha256 ?? sha256(f.data) } };
        const body = f.sent ?? f.data;
        for (let i = 0; i < body.length; i += 65_536) yield { data: body.subarray(i, i + 65_536) };
      }
    },
  });
}

/** Every file under `root`, relative, sorted. */
function tree(root: string): string[] {
  return (readdirSync(root, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(root.length + 1))
    .sort();
}

const big = randomBytes(300_000);
const taskFiles: ServedFile[] = [
  { path: 'result.txt', data: Buffer.from('42\n') },
  { path: 'models/v1/model.bin', data: big },
  { path: 'empty.log', data: Buffer.alloc(0) },
];

describe('cloudai download', () => {
  it('writes the whole task with its folder structure, verified, with a line per file when not a terminal', async () => {
    serveFiles(taskFiles);
    const out = join(dir, 'out');
    const res = await runCli(['download', 'task-1', '--out', out], env);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe(
      'downloaded result.txt (3 B)\ndownloaded models/v1/model.bin (293 KB)\ndownloaded empty.log (0 B)\n',
    );
    expect(res.stdout).toBe(`Downloaded 3 files (293 KB) to ${out}\n`);
    expect(tree(out)).toEqual(['empty.log', 'models/v1/model.bin', 'result.txt']);
    expect(readFileSync(join(out, 'result.txt'), 'utf8')).toBe('42\n');
    expect(readFileSync(join(out, 'models/v1/model.bin')).equals(big)).toBe(true);
    expect((master.callsTo('downloadFiles')[0]!.request as DownloadFilesRequest).path).toBe('');
  });

  it('--file downloads one file to <out>/<path>', async () => {
    serveFiles(taskFiles);
    const out = join(dir, 'one');
    const res = await runCli(['download', 'task-1', '--file', 'models/v1/model.bin', '--out', out], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`Downloaded 1 file (293 KB) to ${out}\n`);
    expect(tree(out)).toEqual(['models/v1/model.bin']);
    expect((master.callsTo('downloadFiles')[0]!.request as DownloadFilesRequest).path).toBe('models/v1/model.bin');
  });

  it('defaults --out to ./<task-id>', async () => {
    serveFiles(taskFiles.slice(0, 1));
    const res = await runCli(['download', 'task-1'], env, { cwd: dir });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('Downloaded 1 file (3 B) to task-1\n');
    expect(tree(join(dir, 'task-1'))).toEqual(['result.txt']);
  });

  it('replaces a file that already exists', async () => {
    serveFiles(taskFiles.slice(0, 1));
    const out = join(dir, 'out');
    await mkdir(out);
    await writeFile(join(out, 'result.txt'), 'old contents');
    const res = await runCli(['download', 'task-1', '--out', out], env);
    expect(res.code).toBe(0);
    expect(readFileSync(join(out, 'result.txt'), 'utf8')).toBe('42\n');
  });

  it('refuses a corrupted file: checksum error, exit 1, and neither the file nor its partial is left', async () => {
    const corrupted = Buffer.from(big);
    corrupted[1000] = (corrupted[1000]! + 1) % 256;
    serveFiles([taskFiles[0]!, { path: 'models/v1/model.bin', data: big, sent: corrupted }]);
    const out = join(dir, 'out');
    const res = await runCli(['download', 'task-1', '--out', out], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      'downloaded result.txt (3 B)\n' +
        `error: checksum mismatch for models/v1/model.bin: expected ${sha256(big)}, got ${sha256(corrupted)}\n`,
    );
    expect(res.stdout).toBe('');
    expect(tree(out)).toEqual(['result.txt']);
  });

  it('refuses a file that ends early', async () => {
    serveFiles([{ path: 'cut.bin', data: big, sent: big.subarray(0, 100_000) }]);
    const out = join(dir, 'out');
    const res = await runCli(['download', 'task-1', '--out', out], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: cut.bin ended after 100000 of its 300000 bytes\n');
    expect(tree(out)).toEqual([]);
  });

  it.each([
    ['../evil', 'it contains ..'],
    ['a/../../evil', 'it contains ..'],
    ['/tmp/evil', 'it is absolute'],
    ['a\\..\\evil', 'it contains a backslash'],
  ])('refuses the hostile path %s and writes nothing outside --out', async (path, why) => {
    serveFiles([{ path, data: Buffer.from('pwned') }]);
    const out = join(dir, 'out');
    const res = await runCli(['download', 'task-1', '--out', out], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`error: refusing to write ${JSON.stringify(path)}: ${why}\n`);
    expect(tree(dir)).toEqual([]);
    expect(existsSync('/tmp/evil')).toBe(false);
  });

  it.each(['link/evil', 'link/deep/er/evil'])(
    'refuses %s when link leads outside --out, creating nothing there',
    async (path) => {
      const out = join(dir, 'out');
      const outside = join(dir, 'outside');
      await mkdir(out);
      await mkdir(outside);
      await symlink(outside, join(out, 'link'));
      serveFiles([{ path, data: Buffer.from('pwned') }]);
      const res = await runCli(['download', 'task-1', '--out', out], env);
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(`error: refusing to write ${JSON.stringify(path)}: a symbolic link leads outside the download folder\n`);
      expect(readdirSync(outside)).toEqual([]);
    },
  );

  it('follows a symbolic link that stays inside --out', async () => {
    const out = join(dir, 'out');
    await mkdir(join(out, 'real'), { recursive: true });
    await symlink(join(out, 'real'), join(out, 'alias'));
    serveFiles([{ path: 'alias/sub/ok.txt', data: Buffer.from('fine') }]);
    const res = await runCli(['download', 'task-1', '--out', out], env);
    expect(res.code).toBe(0);
    expect(readFileSync(join(out, 'real', 'sub', 'ok.txt'), 'utf8')).toBe('fine');
  });

  it('refuses a path whose folder is a file already in --out', async () => {
    const out = join(dir, 'out');
    await mkdir(out);
    await writeFile(join(out, 'models'), 'a file');
    serveFiles([{ path: 'models/m.bin', data: Buffer.from('x') }]);
    const res = await runCli(['download', 'task-1', '--out', out], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error: refusing to write "models\/m.bin": .*models is a file, not a folder\n$/);
    expect(readFileSync(join(out, 'models'), 'utf8')).toBe('a file');
  });

  it('two downloads into one folder at once both end with the whole, verified file', async () => {
    const data = randomBytes(2_000_000);
    serveFiles([{ path: 'shared.bin', data }]);
    const out = join(dir, 'out');
    const [a, b] = await Promise.all([runCli(['download', 'task-1', '--out', out], env), runCli(['download', 'task-1', '--out', out], env)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(readFileSync(join(out, 'shared.bin')).equals(data)).toBe(true);
    expect(tree(out)).toEqual(['shared.bin']);
  });

  it('removes the partial file when interrupted with Ctrl-C, and exits 130', async () => {
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    master.setHandlers({
      async *downloadFiles(): AsyncGenerator<DownloadFilesResponse> {
        yield { file: { path: 'slow.bin', size: 200_000, sha256: sha256(Buffer.alloc(200_000)) } };
        yield { data: Buffer.alloc(65_536) };
        await stalled; // the rest never comes before the interrupt
      },
    });
    const out = join(dir, 'out');
    const child = spawn(process.execPath, [CLI_PATH, 'download', 'task-1', '--out', out], {
      env: cliEnv(env),
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await waitFor(() => (existsSync(out) && readdirSync(out).some((n) => n.endsWith('.partial')) ? true : undefined), {
        what: 'the partial file',
      });
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(readdirSync(out)).toEqual([]);
    } finally {
      release();
      child.kill('SIGKILL');
    }
  });

  it('rejects a bad --file before contacting the master', async () => {
    const res = await runCli(['download', 'task-1', '--file', '../x', '--out', dir], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: --file "../x" is not a valid path: it contains ..\n');
    expect(master.calls).toHaveLength(0);
  });

  it('says so when the task has no files', async () => {
    serveFiles([]);
    const out = join(dir, 'none');
    const res = await runCli(['download', 'task-1', '--out', out], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('No output files.\n');
    expect(existsSync(out)).toBe(false);
  });
});
