import type { DownloadFilesResponse, OutputFile } from '@cloudai/proto';
import { limitResponseStreamReadahead, NO_DEADLINE, releaseChunk, youngCollector } from '@cloudai/rpc/client';
import type { Command } from 'commander';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { lstat, mkdir, open, readdir, realpath, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { withMaster, type Master } from '../client.js';
import { contextOf, print } from '../context.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { clean, formatBytes } from '../format.js';
import { downloadWindowOption, idArgument, parseOptions } from '../options.js';
import { plainProgress, terminalProgress, type Progress } from '../progress.js';
import { isInside, unsafePathReason } from '../safe-path.js';

/**
 * What a download holds in memory beyond the chunk being written (issue 13's
 * CLI RSS target; a 1 GiB download peaked at 119–124 MiB before, 90–96 after):
 * - READAHEAD_MESSAGES: 1 MiB chunks received ahead of it. grpc-js's default
 *   of 16 held 16 MiB whenever the disk was the slower side (a heap snapshot
 *   showed them in the call's queue); 2 keep the disk busy.
 * - WINDOW_MIB: the default HTTP/2 receive window of the download's channel,
 *   what the master may send before the CLI reads it (8 MiB, the other calls'
 *   window, only added memory on loopback). A transfer moves at most a window
 *   per round trip, so a distant master (2 MiB at 50 ms: 40 MiB/s) calls for
 *   a wider one: `--window`.
 * - YOUNG_COLLECTION_BYTES: the socket's dead read buffers are collected
 *   after every 4 MiB received (see youngCollector).
 */
const READAHEAD_MESSAGES = 2;
const WINDOW_MIB = 2;
const YOUNG_COLLECTION_BYTES = 4 * 1024 * 1024;

/**
 * A file being received: written to `<final>.<sha256 prefix>-<random>.partial`
 * until its size and checksum are confirmed. The checksum in the name ties a
 * partial file to one version of the output, so `--resume` continues only a
 * partial of the same file; the random part keeps two downloads apart.
 */
interface Incoming {
  header: OutputFile;
  /** the bytes a resumed partial file already held */
  resumedFrom: number;
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

/** The name prefix of every partial file of this version of `final`. */
const partialPrefix = (final: string, header: OutputFile) => `${basename(final)}.${header.sha256.toLowerCase().slice(0, 16)}-`;

async function begin(header: OutputFile, dest: Destination, resume = false): Promise<Incoming> {
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
  const partial = join(dirname(final), `${partialPrefix(final, header)}${randomBytes(4).toString('hex')}.partial`);
  if (resume) {
    const resumed = await claimPartial(header, final, partial);
    if (resumed) return resumed;
  }
  const handle = await open(partial, 'wx');
  return { header, final, partial, handle, hash: createHash('sha256'), written: 0, resumedFrom: 0 };
}

/**
 * Takes over the longest partial file an interrupted download of this same
 * file version left (renamed to `partial` first, so two resumes cannot both
 * take it) and reads its bytes back into the checksum. Links and anything
 * longer than the file are not partials of it.
 */
async function claimPartial(header: OutputFile, final: string, partial: string): Promise<Incoming | undefined> {
  const prefix = partialPrefix(final, header);
  const candidates: { path: string; size: number }[] = [];
  for (const name of await readdir(dirname(final))) {
    if (!name.startsWith(prefix) || !name.endsWith('.partial')) continue;
    const path = join(dirname(final), name);
    const st = await lstat(path).catch(() => undefined);
    if (st?.isFile() && st.size <= header.size) candidates.push({ path, size: st.size });
  }
  for (const found of candidates.sort((a, b) => b.size - a.size)) {
    const claimed = await rename(found.path, partial).then(
      () => true,
      () => false, // another resume took it first
    );
    if (!claimed) continue;
    const handle = await open(partial, 'r+');
    const hash = createHash('sha256');
    let written = 0;
    for await (const chunk of handle.createReadStream({ autoClose: false, start: 0 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      written += chunk.length;
    }
    return { header, final, partial, handle, hash, written, resumedFrom: written };
  }
  return undefined;
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
 *
 * With `resume`, files are asked for one at a time: one already complete
 * under its name (same size and SHA-256) is kept, and one with a partial
 * file of the same version continues from where that partial ends.
 * Interrupted (Ctrl-C, a lost connection), the file being received stays
 * as its partial for `--resume`; a file that fails its checks is removed.
 */
async function receive(
  m: Master,
  taskId: string,
  path: string,
  dest: Destination,
  progress: Progress,
  resume: boolean,
): Promise<Totals> {
  const totals: Totals = { files: 0, bytes: 0 };
  limitResponseStreamReadahead(READAHEAD_MESSAGES);
  const collectYoung = youngCollector(YOUNG_COLLECTION_BYTES);
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
    progress.fileDone(file.header.path, file.written, file.resumedFrom > 0 ? `continued from ${formatBytes(file.resumedFrom)}` : undefined);
  };
  const onPart = async (part: DownloadFilesResponse, expected?: OutputFile) => {
    if (part.file) {
      if (expected) {
        // The one file asked for, resumed: it must still be the version listed.
        if (part.file.path !== expected.path || part.file.size !== expected.size || part.file.sha256 !== expected.sha256) {
          throw new CliError(`${clean(expected.path)} changed on the server since it was listed; download it again`, ExitCode.FAILED);
        }
        return;
      }
      if (current) await finish(current);
      current = await begin(part.file, dest);
      progress.update(received, part.file.path);
      if (part.file.size === 0) await finish(current);
    } else if (part.data) {
      if (!current) throw new CliError('the master sent file data without naming the file', ExitCode.FAILED);
      const length = part.data.length;
      await append(current, part.data);
      // Written and hashed: its 1 MiB goes back now, not at the next collection.
      releaseChunk(part.data);
      collectYoung(length);
      received += length;
      progress.update(received, current.header.path);
      if (current.written === current.header.size) await finish(current);
    }
  };
  // Interrupted (Ctrl-C, kill): the file being received keeps its partial, for --resume.
  const onSignal = (signal: NodeJS.Signals) => {
    if (current) process.stderr.write(keptNote(current));
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (!resume) {
      // A large download takes as long as it takes: no deadline.
      for await (const part of m.client.downloadFiles({ taskId, path }, { deadline: NO_DEADLINE })) await onPart(part);
    } else {
      const listed = (await m.client.listFiles({ taskId })).files.filter((f) => path === '' || f.path === path);
      if (path !== '' && listed.length === 0) throw new CliError(`task ${taskId} has no output file ${clean(path)}`, ExitCode.FAILED);
      for (const file of listed) {
        if (await alreadyHere(file, dest)) {
          totals.files++;
          progress.fileDone(file.path, file.size, 'already complete here');
          continue;
        }
        current = await begin(file, dest, true);
        received += current.written;
        progress.update(received, file.path);
        if (current.written < file.size) {
          const ask = { taskId, path: file.path, offset: current.written, length: 0 };
          for await (const part of m.client.downloadFiles(ask, { deadline: NO_DEADLINE })) await onPart(part, file);
        }
        if (current) await finish(current);
      }
    }
    if (current) await finish(current);
  } catch (err) {
    // Only a transfer cut short is worth continuing; bad data is not kept.
    if (current && !(err instanceof CliError)) {
      await current.handle.close().catch(() => undefined);
      process.stderr.write(keptNote(current));
    } else if (current) {
      await discard(current);
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.end();
  }
  return totals;
}

/** Appends at the end of what the file holds; a write may take fewer bytes than asked (a disk or quota nearly full). */
async function append(file: Incoming, data: Uint8Array): Promise<void> {
  if (file.written + data.length > file.header.size) {
    throw new CliError(`the master sent more than the ${file.header.size} bytes declared for ${clean(file.header.path)}`, ExitCode.FAILED);
  }
  file.hash.update(data);
  for (let at = 0; at < data.length; ) {
    const { bytesWritten } = await file.handle.write(data, at, data.length - at, file.written + at);
    if (bytesWritten === 0) {
      throw new CliError(`could not write ${clean(file.header.path)}: the disk accepted no more bytes`, ExitCode.FAILED);
    }
    at += bytesWritten;
  }
  file.written += data.length;
}

const keptNote = (file: Incoming) =>
  `kept ${clean(file.partial)} (${file.written} of ${file.header.size} bytes): the same command with --resume continues it\n`;

/** A file already downloaded whole: a regular file of the listed size and SHA-256 under its name. */
async function alreadyHere(file: OutputFile, dest: Destination): Promise<boolean> {
  if (unsafePathReason(file.path, dest.root)) return false; // begin() refuses it with the reason
  const final = resolve(dest.root, file.path);
  const real = await realpath(final).catch(() => undefined);
  if (real === undefined || !isInside(await realpath(dest.root), real)) return false;
  const st = await lstat(real).catch(() => undefined);
  if (!st?.isFile() || st.size !== file.size) return false;
  const hash = createHash('sha256');
  for await (const chunk of (await open(real, 'r')).createReadStream() as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex') === file.sha256.toLowerCase();
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
    .option('--resume', 'continue an interrupted download: keep files already complete, continue partial ones')
    .option('--window <MiB>', `bytes in flight from the master, 1-64 MiB (default: ${WINDOW_MIB}); wider for a distant master`)
    .addHelpText(
      'after',
      '\nFiles that already exist under --out are replaced. Each file is written as\n' +
        '<name>.<checksum>-<random>.partial and renamed only after its size and SHA-256\n' +
        'check out. An interrupted download keeps its partial file; --resume asks the\n' +
        'server for the rest of it and checks the whole file.',
    )
    .action(async (taskId: string, opts: { file?: string; out?: string; resume?: boolean; window?: string }, self: Command) => {
      const id = parseOptions(idArgument('<task-id>'), taskId);
      const windowMib = opts.window === undefined ? WINDOW_MIB : parseOptions(downloadWindowOption, opts.window);
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
        return receive(m, id, file, { root: resolve(out) }, progress, opts.resume === true);
      }, { receiveWindowBytes: windowMib * 1024 * 1024 });
      if (totals.files === 0) {
        print('No output files.');
        return;
      }
      print(`Downloaded ${totals.files} file${totals.files === 1 ? '' : 's'} (${formatBytes(totals.bytes)}) to ${clean(out)}`);
    });
}
