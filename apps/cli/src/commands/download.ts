import type { OutputFile } from '@cloudai/proto';
import { NO_DEADLINE } from '@cloudai/rpc/client';
import type { Command } from 'commander';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { withMaster, type Master } from '../client.js';
import { contextOf, print } from '../context.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { clean, formatBytes } from '../format.js';
import { idArgument, parseOptions } from '../options.js';
import { plainProgress, terminalProgress, type Progress } from '../progress.js';
import { isInside, unsafePathReason } from '../safe-path.js';

/** A file being received: written to `<final>.<random>.partial` until its size and checksum are confirmed. */
interface Incoming {
  header: OutputFile;
  final: string;
  partial: string;
  handle: FileHandle;
  hash: Hash;
  written: number;
}

interface Destination {
  root: string;
  /** the root with symbolic links resolved, made on the first file */
  realRoot?: string;
}

function refuse(path: string, why: string): CliError {
  return new CliError(`refusing to write ${JSON.stringify(clean(path))}: ${why}`, ExitCode.FAILED);
}

async function begin(header: OutputFile, dest: Destination): Promise<Incoming> {
  const why = unsafePathReason(header.path, dest.root);
  if (why) throw refuse(header.path, why);
  if (!/^[0-9a-f]{64}$/i.test(header.sha256)) {
    throw new CliError(`the master sent no valid SHA-256 for ${clean(header.path)}; cannot verify it`, ExitCode.FAILED);
  }
  if (dest.realRoot === undefined) {
    await mkdir(dest.root, { recursive: true });
    dest.realRoot = await realpath(dest.root);
  }
  const final = resolve(dest.root, header.path);
  await makeFolders(dest, header.path);
  // A name of its own: another download into the same folder must not
  // write into this one's file. 'wx' never follows a link or reuses a file.
  const partial = `${final}.${randomBytes(4).toString('hex')}.partial`;
  const handle = await open(partial, 'wx');
  return { header, final, partial, handle, hash: createHash('sha256'), written: 0 };
}

/**
 * Makes the folders of `path` under the download root one level at a time,
 * checking each before going into it: a recursive mkdir would follow a
 * symbolic link already in --out and create folders wherever it leads
 * before anything could refuse.
 */
async function makeFolders(dest: Destination, path: string): Promise<void> {
  let at = dest.root;
  for (const segment of path.split('/').slice(0, -1)) {
    at = join(at, segment);
    let st = await lstat(at).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!st) {
      await mkdir(at).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      st = await lstat(at);
    }
    if (st.isSymbolicLink()) {
      if (!isInside(dest.realRoot!, await realpath(at))) throw refuse(path, 'a symbolic link leads outside the download folder');
    } else if (!st.isDirectory()) {
      throw refuse(path, `${clean(at)} is a file, not a folder`);
    }
  }
}

/** Verifies size and checksum, makes the bytes durable, and only then gives the file its real name. */
async function complete(file: Incoming): Promise<void> {
  const digest = file.hash.digest('hex');
  if (file.written !== file.header.size) {
    throw new CliError(
      `${clean(file.header.path)} ended after ${file.written} of its ${file.header.size} bytes`,
      ExitCode.FAILED,
    );
  }
  if (digest !== file.header.sha256.toLowerCase()) {
    throw new CliError(
      `checksum mismatch for ${clean(file.header.path)}: expected ${file.header.sha256.toLowerCase()}, got ${digest}`,
      ExitCode.FAILED,
    );
  }
  await file.handle.sync();
  await file.handle.close();
  // Existing files of the same name are replaced: a download reflects what the task produced.
  await rename(file.partial, file.final);
}

async function discard(file: Incoming): Promise<void> {
  await file.handle.close().catch(() => undefined);
  await rm(file.partial, { force: true });
}

interface Totals {
  files: number;
  bytes: number;
}

/**
 * Streams the task's files into `dest`. Each chunk is written before the
 * next is read, so memory stays flat and a slow disk slows the transfer.
 */
async function receive(m: Master, taskId: string, path: string, dest: Destination, progress: Progress): Promise<Totals> {
  const totals: Totals = { files: 0, bytes: 0 };
  let current: Incoming | undefined;
  let received = 0;
  const finish = async (file: Incoming) => {
    current = undefined;
    try {
      await complete(file);
    } catch (err) {
      await discard(file);
      throw err;
    }
    totals.files++;
    totals.bytes += file.written;
    progress.fileDone(file.header.path, file.written);
  };
  // Interrupted (Ctrl-C, kill): the file being received is removed, not
  // left behind under its random name for no later run to find.
  const onSignal = (signal: NodeJS.Signals) => {
    if (current) rmSync(current.partial, { force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // A large download takes as long as it takes: no deadline.
    for await (const part of m.client.downloadFiles({ taskId, path }, { deadline: NO_DEADLINE })) {
      if (part.file) {
        if (current) await finish(current);
        current = await begin(part.file, dest);
        progress.update(received, part.file.path);
        if (part.file.size === 0) await finish(current);
      } else if (part.data) {
        if (!current) throw new CliError('the master sent file data without naming the file', ExitCode.FAILED);
        if (current.written + part.data.length > current.header.size) {
          throw new CliError(
            `the master sent more than the ${current.header.size} bytes declared for ${clean(current.header.path)}`,
            ExitCode.FAILED,
          );
        }
        current.hash.update(part.data);
        // A write may take fewer bytes than asked (a disk or quota nearly full).
        for (let at = 0; at < part.data.length; ) {
          const { bytesWritten } = await current.handle.write(part.data, at, part.data.length - at);
          if (bytesWritten === 0) {
            throw new CliError(`could not write ${clean(current.header.path)}: the disk accepted no more bytes`, ExitCode.FAILED);
          }
          at += bytesWritten;
        }
        current.written += part.data.length;
        received += part.data.length;
        progress.update(received, current.header.path);
        if (current.written === current.header.size) await finish(current);
      }
    }
    if (current) await finish(current);
  } catch (err) {
    if (current) await discard(current);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.end();
  }
  return totals;
}

/** What the whole download will weigh, for the progress bar's percentage. */
async function expectedBytes(m: Master, taskId: string, path: string): Promise<number> {
  const res = await m.client.listFiles({ taskId });
  return res.files.filter((f) => path === '' || f.path === path).reduce((sum, f) => sum + f.size, 0);
}

export function registerDownload(program: Command): void {
  program
    .command('download')
    .description("download a task's output files, verifying each SHA-256")
    .argument('<task-id>', 'the id `cloudai task` printed')
    .option('--file <path>', 'only this file (a path `cloudai files` lists)')
    .option('--out <dir>', 'folder to write into; subfolders are kept (default: ./<task-id>)')
    .addHelpText(
      'after',
      '\nFiles that already exist under --out are replaced. Each file is written as\n' +
        '<name>.<random>.partial and renamed only after its size and SHA-256 check out.',
    )
    .action(async (taskId: string, opts: { file?: string; out?: string }, self: Command) => {
      const id = parseOptions(idArgument('<task-id>'), taskId);
      if (opts.out === '') throw new UsageError('--out must not be empty');
      if (opts.out === undefined && unsafePathReason(id, '.') !== undefined) {
        throw new UsageError(`<task-id> ${JSON.stringify(id)} is not a plain folder name; pass --out`);
      }
      const out = opts.out ?? id;
      const file = opts.file ?? '';
      if (opts.file !== undefined) {
        const why = unsafePathReason(file, out);
        if (why) throw new UsageError(`--file ${JSON.stringify(clean(file))} is not a valid path: ${why}`);
      }
      const ctx = contextOf(self);
      const terminal = process.stderr.isTTY === true;
      const totals = await withMaster(ctx.connection, async (m) => {
        const progress = terminal
          ? terminalProgress(process.stderr, await expectedBytes(m, id, file))
          : plainProgress(process.stderr);
        return receive(m, id, file, { root: resolve(out) }, progress);
      });
      if (totals.files === 0) {
        print('No output files.');
        return;
      }
      print(`Downloaded ${totals.files} file${totals.files === 1 ? '' : 's'} (${formatBytes(totals.bytes)}) to ${clean(out)}`);
    });
}
