import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ObjectStoreError, objectStoreError } from './errors.js';
import { partSizeFor } from './part-size.js';
import { chunksOf, type ByteSource } from './read-source.js';

export interface PutOptions {
  signal?: AbortSignal;
  /**
   * The sha256 (hex) the bytes must have, when the caller knows it; a value
   * or a function asked once the source has ended (a tar entry's hash is
   * known only then). A mismatch fails the put and leaves nothing.
   */
  expectedSha256?: string | (() => string);
  contentType?: string;
}

export interface PutResult {
  key: string;
  size: number;
  /** the sha256 (hex) of the bytes stored, for the manifest and FILE_METADATA */
  sha256: string;
  /**
   * The object's x-amz-checksum-sha256 as the server verified and keeps it:
   * base64 of `sha256` for a single PUT; for a multipart upload S3 (and
   * VersityGW) keep only a COMPOSITE one, "<base64 sha256 of the parts'
   * sha256s>-<parts>", never the whole file's.
   */
  checksumSha256: string;
  /** 0 for a single PUT */
  parts: number;
  etag?: string;
}

interface Target {
  client: S3Client;
  bucket: string;
  key: string;
}

interface Tuning extends PutOptions {
  preferredPartSize: number;
  partConcurrency: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export async function putObjectStream(target: Target, size: number, source: ByteSource, options: Tuning): Promise<PutResult> {
  const partSize = partSizeFor(size, options.preferredPartSize);
  options.signal?.throwIfAborted();
  return size <= partSize ? putSingle(target, size, source, options) : putMultipart(target, size, partSize, source, options);
}

function expectedOf(options: PutOptions, key: string): string | undefined {
  const expected = typeof options.expectedSha256 === 'function' ? options.expectedSha256() : options.expectedSha256;
  if (expected !== undefined && !SHA256_HEX.test(expected)) {
    throw new RangeError(`expectedSha256 for ${key} must be 64 lowercase hex digits, got ${JSON.stringify(expected)}`);
  }
  return expected;
}

function sizeMismatch(key: string, declared: number, got: string): ObjectStoreError {
  return new ObjectStoreError('SizeMismatch', `put ${key}: the source holds ${got} bytes, not the ${declared} declared`);
}

const hexToBase64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

/**
 * A middleware that sets the body's sha256 (hex) as x-amz-content-sha256,
 * which the request signature then covers instead of hashing the body once
 * more (as SigV4 does over plain http): each body is hashed once, here.
 */
function payloadSha256(hex: string) {
  return <A extends { request: unknown }, R>(next: (args: A) => Promise<R>) =>
    (args: A): Promise<R> => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['x-amz-content-sha256'] = hex;
      return next(args);
    };
}
const PAYLOAD_SHA256_STEP = { step: 'build', name: 'cloudaiPayloadSha256' } as const;

/** Up to one part's size: buffered whole, then one PUT whose checksum the server checks against the bytes. */
async function putSingle({ client, bucket, key }: Target, size: number, source: ByteSource, options: Tuning): Promise<PutResult> {
  const signal = options.signal ?? new AbortController().signal;
  const body = Buffer.allocUnsafe(size);
  let filled = 0;
  for await (const chunk of chunksOf(source, signal)) {
    if (filled + chunk.length > size) throw sizeMismatch(key, size, `more than ${size}`);
    body.set(chunk, filled);
    filled += chunk.length;
  }
  if (filled !== size) throw sizeMismatch(key, size, String(filled));
  const sha256 = createHash('sha256').update(body).digest('hex');
  // The expected sha256, when given, is what goes to the server, so that the
  // server itself refuses bytes that do not match it (BadDigest).
  const checksumSha256 = hexToBase64(expectedOf(options, key) ?? sha256);
  try {
    const command = new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentLength: size,
      ContentType: options.contentType,
      ChecksumSHA256: checksumSha256,
    });
    command.middlewareStack.add(payloadSha256(sha256), PAYLOAD_SHA256_STEP);
    const res = await client.send(command, { abortSignal: signal });
    return { key, size, sha256, checksumSha256, parts: 0, etag: res.ETag };
  } catch (err) {
    throw objectStoreError('put', key, err);
  }
}

/**
 * Larger: a multipart upload. The source is read into part buffers; a full
 * one is sent while the next fills, with at most `partConcurrency` parts in
 * flight: when that many are, reading stops until one is done, which is the
 * backpressure on the source, and memory stays at (concurrency + 1) parts
 * whatever the object's size. Each part carries its own sha256; the
 * completion carries the composite checksum and the object's size, both of
 * which the server checks. Any failure, the source's or a part's, or an
 * abort, aborts the upload once no part is in flight.
 */
async function putMultipart(
  { client, bucket, key }: Target,
  size: number,
  partSize: number,
  source: ByteSource,
  options: Tuning,
): Promise<PutResult> {
  // Aborted on the first failed part, to stop the others and a stalled read.
  const failed = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal;
  let uploadId: string;
  try {
    const created = await client.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        ContentType: options.contentType,
        ChecksumAlgorithm: 'SHA256',
        ChecksumType: 'COMPOSITE',
      }),
      { abortSignal: options.signal },
    );
    if (!created.UploadId) throw new ObjectStoreError('NoUploadId', `create multipart upload ${key}: the answer had no UploadId`);
    uploadId = created.UploadId;
  } catch (err) {
    throw objectStoreError('create multipart upload', key, err);
  }

  const parts: CompletedPart[] = [];
  const partDigests: Buffer[] = [];
  const inFlight = new Set<Promise<void>>();
  const spare: Buffer[] = [];
  let partFailure: Error | undefined;

  const send = async (buffer: Buffer, length: number) => {
    const partNumber = parts.length + 1;
    const body = buffer.subarray(0, length);
    const digest = createHash('sha256').update(body).digest();
    const checksum = digest.toString('base64');
    const part: CompletedPart = { PartNumber: partNumber, ChecksumSHA256: checksum };
    parts.push(part);
    partDigests.push(digest);
    const command = new UploadPartCommand({
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: length,
      ChecksumSHA256: checksum,
    });
    command.middlewareStack.add(payloadSha256(digest.toString('hex')), PAYLOAD_SHA256_STEP);
    const upload: Promise<void> = client
      .send(command, { abortSignal: signal })
      .then(
        (res) => {
          part.ETag = res.ETag;
          spare.push(buffer);
        },
        (err: unknown) => {
          partFailure ??= objectStoreError(`upload part ${partNumber} of`, key, err);
          failed.abort(partFailure);
        },
      )
      .finally(() => inFlight.delete(upload));
    inFlight.add(upload);
    while (inFlight.size >= options.partConcurrency) await Promise.race(inFlight);
    if (partFailure) throw partFailure;
  };

  try {
    const whole = createHash('sha256');
    let buffer: Buffer = Buffer.allocUnsafe(partSize);
    let filled = 0;
    let received = 0;
    for await (const chunk of chunksOf(source, signal)) {
      if (received + chunk.length > size) throw sizeMismatch(key, size, `more than ${size}`);
      received += chunk.length;
      whole.update(chunk);
      for (let offset = 0; offset < chunk.length; ) {
        const n = Math.min(partSize - filled, chunk.length - offset);
        buffer.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === partSize) {
          await send(buffer, filled);
          buffer = spare.pop() ?? Buffer.allocUnsafe(partSize);
          filled = 0;
        }
      }
    }
    if (received !== size) throw sizeMismatch(key, size, String(received));
    if (filled > 0) await send(buffer, filled);
    await Promise.all(inFlight);
    if (partFailure) throw partFailure;

    const sha256 = whole.digest('hex');
    const expected = expectedOf(options, key);
    if (expected !== undefined && expected !== sha256) {
      throw new ObjectStoreError('ChecksumMismatch', `put ${key}: the bytes' sha256 is ${sha256}, not the ${expected} expected`);
    }
    const checksumSha256 = `${createHash('sha256').update(Buffer.concat(partDigests)).digest('base64')}-${parts.length}`;
    let etag: string | undefined;
    try {
      const res = await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ChecksumType: 'COMPOSITE',
          ChecksumSHA256: checksumSha256,
          MpuObjectSize: size,
        }),
        { abortSignal: options.signal },
      );
      etag = res.ETag;
    } catch (err) {
      throw objectStoreError('complete multipart upload', key, err);
    }
    // Every part's request has been answered: nothing reads these any more,
    // and their memory goes back now rather than at the next full collection.
    // (Each part buffer is an ArrayBuffer of its own: allocUnsafe of 5 MiB or more never pools.)
    for (const done of new Set([...spare, buffer])) {
      const memory = done.buffer as ArrayBuffer;
      if (!memory.detached && memory.byteLength === done.byteLength) memory.transfer(0);
    }
    spare.length = 0;
    return { key, size, sha256, checksumSha256, parts: parts.length, etag };
  } catch (err) {
    // The first failure is the one to report: the parts this abort cuts short fail after it.
    const failure = partFailure ?? err;
    // A failed part or the caller's abort cuts the other parts short. A
    // failed source does not: its parts in flight are let finish, since a
    // part the server is still writing when the upload is aborted can bring
    // the upload back (VersityGW does), and then it stays open.
    if (partFailure || options.signal?.aborted) failed.abort(failure);
    // Not forever, though: a part the server stalls on is cut after a while.
    const settled = Promise.allSettled(inFlight);
    await Promise.race([settled, sleep(PARTS_SETTLE_MS, undefined, { ref: false })]);
    failed.abort(failure);
    await settled;
    await abortUpload(client, bucket, key, uploadId, failure);
    // An abort by the caller is reported as such, whatever it broke on the way.
    if (options.signal?.aborted) throw options.signal.reason;
    throw failure;
  }
}

/**
 * Aborts the upload, with its own deadline (the caller's signal may be the
 * reason it is aborting), then checks that it is gone: a part request cut
 * short on the client may still be written on the server after the abort,
 * and bring the upload back. If the server cannot be reached, the
 * stale-upload sweep removes it later; the caller still learns of both failures.
 */
async function abortUpload(client: S3Client, bucket: string, key: string, uploadId: string, cause: unknown): Promise<void> {
  const request = { Bucket: bucket, Key: key, UploadId: uploadId };
  const deadline = () => ({ abortSignal: AbortSignal.timeout(30_000) });
  let lastError: unknown;
  for (let attempt = 0; attempt < ABORT_ATTEMPTS; attempt++) {
    if (attempt > 0) await sleep(100 * attempt);
    try {
      await client.send(new AbortMultipartUploadCommand(request), deadline());
    } catch (err) {
      if (!isGone(err)) {
        lastError = err;
        continue;
      }
    }
    try {
      await client.send(new ListPartsCommand({ ...request, MaxParts: 1 }), deadline());
      // Listed: a part written after the abort brought it back.
      lastError = new ObjectStoreError('UploadStillOpen', `multipart upload ${uploadId} of ${key} is still listed after its abort`);
    } catch {
      // Gone; or the check itself is not allowed or not served (a policy
      // without ListParts): the abort was answered, and the sweep removes
      // what a late part might bring back.
      return;
    }
  }
  throw new AggregateError(
    [cause, lastError],
    `put ${key} failed and aborting its multipart upload ${uploadId} failed too; the stale-upload sweep will remove it`,
  );
}

const ABORT_ATTEMPTS = 5;
/** How long a failed put waits for its parts in flight to be answered before it cuts them. */
const PARTS_SETTLE_MS = 30_000;
/** The upload is not there (any more): NoSuchUpload, or a 404 without that code. */
function isGone(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchUpload' || e.$metadata?.httpStatusCode === 404;
}
