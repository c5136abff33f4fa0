import { taskNameSchema } from '@cloudai/domain';
import type { DownloadFilesResponse, OutputFile } from '@cloudai/proto';
import { NO_DEADLINE, taskJson } from '@cloudai/rpc/client';
import { z } from 'zod';
import { ApiError } from './api-error.js';
import type { RequestContext, Route } from './context.js';
import { contentDisposition, outputFileType } from './file-types.js';
import { parseRange } from './http-range.js';
import { API_HEADERS, sendJson, writeAll } from './http-io.js';
import { parseQuery, queryBoolean, queryInt } from './query.js';
import { ZipWriter } from './zip-writer.js';

/** Headers of every output file answer: a task's bytes never run as a page of ours. */
const OUTPUT_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; sandbox",
  'cache-control': 'private, no-cache',
  'referrer-policy': 'no-referrer',
} as const;

function fileJson(f: OutputFile): { path: string; size: number; sha256: string } {
  return { path: f.path, size: f.size, sha256: f.sha256 };
}

async function listFiles(ctx: RequestContext): Promise<void> {
  const res = await ctx.master.tasks.listFiles({ taskId: ctx.params.id! }, ctx.call());
  sendJson(ctx.res, 200, { files: res.files.map(fileJson), totalBytes: res.totalBytes });
}

async function deleteFiles(ctx: RequestContext): Promise<void> {
  const res = await ctx.master.tasks.deleteFiles({ taskId: ctx.params.id! }, ctx.call());
  sendJson(ctx.res, 200, { deletedFiles: res.deletedFiles, deletedBytes: res.deletedBytes });
}

const ByNameQuery = z.object({
  task_name: z.string({ error: 'task_name is required' }).min(1, { error: 'task_name is required' }).pipe(taskNameSchema('task_name')),
  limit: queryInt('limit', 1, 1000).optional(),
  page_token: z.string().max(1000).optional(),
});

/** Every run of a task name, newest first, each with its files: the seed's file browser grouped by task name. */
async function filesByName(ctx: RequestContext): Promise<void> {
  const q = parseQuery(ctx.url, ByNameQuery);
  const res = await ctx.master.tasks.listTasks(
    { statuses: [], taskName: q.task_name, limit: q.limit ?? 0, pageToken: q.page_token ?? '', allUsers: false },
    ctx.call(),
  );
  const runs = res.tasks.map((task) => ({ task: taskJson(task), files: task.outputFiles.map(fileJson), totalBytes: task.outputBytes }));
  sendJson(ctx.res, 200, { runs, nextPageToken: res.nextPageToken || null });
}

const FileQuery = z.object({ inline: queryBoolean('inline').optional() });

/**
 * The master's DownloadFiles stream for one request, read a message at a
 * time; closing it cancels the call (a client that goes away cancels it too,
 * through the request's signal).
 */
function download(
  ctx: RequestContext,
  path: string,
  piece: { offset: number; length: number } = { offset: 0, length: 0 },
): { parts: AsyncIterator<DownloadFilesResponse>; close(): Promise<void> } {
  const cancel = new AbortController();
  const stream = ctx.master.tasks.downloadFiles(
    { taskId: ctx.params.id!, path, ...piece },
    // A large file takes as long as it takes: no deadline.
    ctx.call({ signal: AbortSignal.any([ctx.signal, cancel.signal]), deadline: NO_DEADLINE }),
  );
  const parts = stream[Symbol.asyncIterator]();
  return {
    parts,
    close: async () => {
      cancel.abort();
      await parts.return?.().catch(() => undefined);
    },
  };
}

/** One output file: streamed, resumable with Range, never served as something a browser would run. */
async function getFile(ctx: RequestContext): Promise<void> {
  const q = parseQuery(ctx.url, FileQuery);
  const path = ctx.params.path!;
  let { parts, close } = download(ctx, path);
  try {
    const first = await parts.next();
    const header = first.done ? undefined : first.value.file;
    if (!header) throw new ApiError('not_found', `task ${ctx.params.id} has no output file ${JSON.stringify(path)}`);
    const etag = `"${header.sha256}"`;
    const { contentType, inlineAllowed } = outputFileType(header.path);
    const headers: Record<string, string | number> = {
      ...OUTPUT_HEADERS,
      etag,
      'accept-ranges': 'bytes',
      'content-type': contentType,
      'content-disposition': contentDisposition(q.inline && inlineAllowed ? 'inline' : 'attachment', header.path),
    };
    if (ifNoneMatch(ctx.req.headers['if-none-match'], etag)) {
      ctx.res.writeHead(304, headers);
      ctx.res.end();
      return;
    }
    // If-Range with another version's tag: the whole (new) file, not a piece of it.
    const ifRange = ctx.req.headers['if-range'];
    const range = ifRange !== undefined && ifRange !== etag ? undefined : parseRange(ctx.req.headers.range, header.size);
    if (range === 'unsatisfiable') {
      ctx.res.writeHead(416, { ...API_HEADERS, 'content-type': 'application/json', 'content-range': `bytes */${header.size}` });
      ctx.res.end(JSON.stringify(new ApiError('range_not_satisfiable', `the file has ${header.size} bytes`).toJSON()));
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? header.size - 1;
    if (start > 0) {
      // A piece from further in: storage reads from there, instead of this
      // process reading (and dropping) every byte before it.
      await close();
      ({ parts, close } = download(ctx, path, { offset: start, length: end - start + 1 }));
      const again = await parts.next();
      if (again.done || again.value.file?.sha256 !== header.sha256) {
        throw new ApiError('conflict', `${JSON.stringify(path)} changed while it was being read; retry`);
      }
    }
    if (range) headers['content-range'] = `bytes ${start}-${end}/${header.size}`;
    headers['content-length'] = end - start + 1;
    ctx.res.writeHead(range ? 206 : 200, headers);
    await sendBytes(ctx, parts, end - start + 1);
  } finally {
    await close();
  }
}

function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*');
}

/** Writes the first `length` bytes of the data `parts` streams; stops reading once they are out. */
async function sendBytes(ctx: RequestContext, parts: AsyncIterator<DownloadFilesResponse>, length: number): Promise<void> {
  let at = 0;
  const end = length - 1;
  while (at <= end) {
    const next = await parts.next().catch((err: unknown) => {
      // The status is out: a cut-off body is how the client learns.
      ctx.log.warn({ err, taskId: ctx.params.id }, 'file download failed part-way');
      return undefined;
    });
    if (!next || next.done || !next.value.data) break;
    const data = next.value.data;
    const to = Math.min(data.length, end - at + 1);
    at += data.length;
    if (to > 0 && !(await writeAll(ctx.res, data.subarray(0, to)))) return;
  }
  if (at <= end) ctx.res.destroy();
  else ctx.res.end();
}

/** All of a task's files as one zip, streamed as the master sends them: no temporary file, memory bounded by one chunk. */
async function getZip(ctx: RequestContext): Promise<void> {
  const taskId = ctx.params.id!;
  const { parts, close } = download(ctx, '');
  try {
    const first = await parts.next();
    ctx.res.writeHead(200, {
      ...OUTPUT_HEADERS,
      'content-type': 'application/zip',
      'content-disposition': contentDisposition('attachment', `${taskId}.zip`),
    });
    const zip = new ZipWriter(async (bytes) => {
      if (!(await writeAll(ctx.res, bytes))) throw new ClientGone();
    });
    const modified = new Date();
    let open: OutputFile | undefined;
    let next = first;
    while (!next.done) {
      const part = next.value;
      if (part.file) {
        if (open) await zip.end();
        open = part.file;
        await zip.begin(part.file.path, part.file.size, modified);
      } else if (part.data) {
        if (!open) throw new Error('the master sent file data without naming the file');
        await zip.data(part.data);
      }
      next = await parts.next();
    }
    if (open) await zip.end();
    await zip.finish();
    ctx.res.end();
  } catch (err) {
    if (!ctx.res.headersSent) throw err;
    // A zip cut short is refused by every reader: the client sees the failure.
    if (!(err instanceof ClientGone)) ctx.log.warn({ err, taskId }, 'zip download failed part-way');
    ctx.res.destroy();
  } finally {
    await close();
  }
}

class ClientGone extends Error {}

export const FILE_ROUTES: Route[] = [
  { method: 'GET', path: '/tasks/{id}/files', auth: true, handler: listFiles },
  { method: 'DELETE', path: '/tasks/{id}/files', auth: true, handler: deleteFiles },
  { method: 'GET', path: '/tasks/{id}/files.zip', auth: true, handler: getZip },
  { method: 'GET', path: '/tasks/{id}/files/{path}', auth: true, handler: getFile },
  { method: 'GET', path: '/files', auth: true, handler: filesByName },
];
