import type { DownloadFilesRequest, DownloadFilesResponse } from '@cloudai/proto';
import { ServerError, Status } from 'nice-grpc';
import { waitFor } from '@cloudai/testing';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, type Dirent } from 'node:fs';
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
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
        const sent = f.sent ?? f.data;
        const body = sent.subarray(req.offset, req.length > 0 ? req.offset + req.length : undefined);
        for (let i = 0; i < body.length; i += 65_536) yield { data: body.subarray(i, i + 65_536) };
      }
    },
    async listFiles() {
      const listed = files.map((f) => ({ path: f.path, size: f.size ?? f.data.length, sha256: f.sha256 ?? sha256(f.data) }));
      return { files: listed, totalBytes: listed.reduce((n, f) => n + f.size, 0) };
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

  it('keeps the partial file when interrupted with Ctrl-C, says how to continue it, and exits 130', async () => {
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
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      // Its first 64 KiB written (the partial exists from before the first write).
      const written = (n: string) => n.endsWith('.partial') && statSync(join(out, n)).size >= 65_536;
      await waitFor(() => (existsSync(out) && readdirSync(out).some(written) ? true : undefined), {
        what: 'the partial file with its first 64 KiB',
      });
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      const kept = readdirSync(out);
      expect(kept).toEqual([expect.stringMatching(new RegExp(`^slow\\.bin\\.${sha256(Buffer.alloc(200_000)).slice(0, 16)}-[0-9a-f]{8}\\.partial$`))]);
      expect(stderr).toContain(`kept ${join(out, kept[0]!)} (65536 of 200000 bytes): the same command with --resume continues it\n`);
    } finally {
      release();
      child.kill('SIGKILL');
    }
  });

  describe('--resume', () => {
    const data = randomBytes(1_000_000);
    const partials = (out: string) => readdirSync(out).filter((n) => n.endsWith('.partial'));
    /**
     * Sends the file's header and its first `cut` bytes, then fails as a
     * dropped connection would, once the CLI has written them all into its
     * partial file under `out`. (Failing at once would race the CLI's reads:
     * gRPC drops what a failed call's client has not read yet.)
     */
    const cutAfter = (cut: number, out: string) =>
      master.setHandlers({
        async *downloadFiles(_request, context): AsyncGenerator<DownloadFilesResponse> {
          yield { file: { path: 'big.bin', size: data.length, sha256: sha256(data) } };
          for (let i = 0; i < cut; i += 65_536) yield { data: data.subarray(i, Math.min(cut, i + 65_536)) };
          // Stops waiting with the call (a CLI that exited early), not 30 s later.
          const written = () => existsSync(out) && partials(out).some((n) => statSync(join(out, n)).size >= cut);
          await waitFor(() => (context.signal.aborted || written() ? true : undefined), { what: `${cut} bytes in the partial file` });
          throw new ServerError(Status.INTERNAL, 'the connection dropped');
        },
        async listFiles() {
          return { files: [{ path: 'big.bin', size: data.length, sha256: sha256(data) }], totalBytes: data.length };
        },
      });

    it('continues a download cut midway from the end of its partial file, and checks the whole file', async () => {
      const out = join(dir, 'out');
      cutAfter(65_536 * 5, out);
      const first = await runCli(['download', 'task-1', '--out', out], env);
      expect(first.code).not.toBe(0);
      expect(first.stderr).toMatch(/kept .*big\.bin\.[0-9a-f]{16}-[0-9a-f]{8}\.partial \(327680 of 1000000 bytes\): the same command with --resume continues it/);
      expect(partials(out)).toHaveLength(1);

      serveFiles([{ path: 'big.bin', data }]);
      const resumed = await runCli(['download', 'task-1', '--out', out, '--resume'], env);
      expect(resumed.stderr).toBe('downloaded big.bin (976.6 KB; continued from 320 KB)\n');
      expect(resumed.code).toBe(0);
      expect(master.callsTo('downloadFiles').map((c) => c.request)).toEqual([{ taskId: 'task-1', path: 'big.bin', offset: 327_680, length: 0 }]);
      expect(readFileSync(join(out, 'big.bin')).equals(data)).toBe(true);
      expect(tree(out)).toEqual(['big.bin']);
    });

    it('keeps a file already downloaded whole and asks only for the others', async () => {
      serveFiles(taskFiles);
      const out = join(dir, 'out');
      await mkdir(join(out, 'models/v1'), { recursive: true });
      await writeFile(join(out, 'models/v1/model.bin'), big);
      await writeFile(join(out, 'result.txt'), 'stale\n');
      const res = await runCli(['download', 'task-1', '--out', out, '--resume'], env);
      expect(res.code).toBe(0);
      expect(res.stderr).toBe('downloaded result.txt (3 B)\ndownloaded models/v1/model.bin (293 KB; already complete here)\ndownloaded empty.log (0 B)\n');
      // The empty file needs no bytes: it is created without asking.
      expect(master.callsTo('downloadFiles').map((c) => c.request)).toEqual([{ taskId: 'task-1', path: 'result.txt', offset: 0, length: 0 }]);
      expect(tree(out)).toEqual(['empty.log', 'models/v1/model.bin', 'result.txt']);
      expect(readFileSync(join(out, 'result.txt'), 'utf8')).toBe('42\n');
      expect(readFileSync(join(out, 'models/v1/model.bin')).equals(big)).toBe(true);
    });

    it('refuses a partial file whose bytes do not match, and removes it', async () => {
      const out = join(dir, 'out');
      cutAfter(65_536 * 2, out);
      expect((await runCli(['download', 'task-1', '--out', out], env)).code).not.toBe(0);
      const [partial] = partials(out);
      const handle = await open(join(out, partial!), 'r+');
      await handle.write(Buffer.from('garbage'), 0, 7, 1000);
      await handle.close();
      serveFiles([{ path: 'big.bin', data }]);
      const resumed = await runCli(['download', 'task-1', '--out', out, '--resume'], env);
      expect(resumed.code).toBe(1);
      expect(resumed.stderr).toMatch(/^error: checksum mismatch for big\.bin/m);
      expect(tree(out)).toEqual([]);
    });

    it('does not continue a partial file of another version of the file', async () => {
      const out = join(dir, 'out');
      cutAfter(65_536 * 2, out);
      expect((await runCli(['download', 'task-1', '--out', out], env)).code).not.toBe(0);
      const other = randomBytes(1_000_000);
      serveFiles([{ path: 'big.bin', data: other }]);
      const res = await runCli(['download', 'task-1', '--out', out, '--resume'], env);
      expect(res.code).toBe(0);
      expect((master.callsTo('downloadFiles')[0]!.request as DownloadFilesRequest).offset).toBe(0);
      expect(readFileSync(join(out, 'big.bin')).equals(other)).toBe(true);
      // The older version's partial is left alone (another run may still want it).
      expect(partials(out)).toHaveLength(1);
    });
  });

  it('takes a wider --window and refuses one out of range before contacting the master', async () => {
    serveFiles(taskFiles);
    const out = join(dir, 'out');
    const wide = await runCli(['download', 'task-1', '--out', out, '--window', '16'], env);
    expect(wide.code).toBe(0);
    expect(readFileSync(join(out, 'models/v1/model.bin')).equals(big)).toBe(true);
    const calls = master.calls.length;
    for (const [window, why] of [
      ['0', '--window must be a whole number >= 1, got "0"'],
      ['65', '--window must be <= 64, got "65"'],
      ['2.5', '--window must be a whole number >= 1, got "2.5"'],
    ]) {
      const res = await runCli(['download', 'task-1', '--out', out, '--window', window!], env);
      expect(res.code).toBe(2);
      expect(res.stderr).toBe(`error: ${why}\n`);
    }
    expect(master.calls).toHaveLength(calls);
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
