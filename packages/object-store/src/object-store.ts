import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { ObjectStoreConfig } from './config.js';
import { ObjectStoreError, objectStoreError } from './errors.js';
import { keyPrefix, objectKey } from './keys.js';
import { DEFAULT_PART_SIZE } from './part-size.js';
import { putObjectStream, type PutOptions, type PutResult } from './put.js';
import type { ByteSource } from './read-source.js';

export interface ObjectStoreOptions {
  /** default: the AWS SDK's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws files, web identity, …) */
  credentials?: S3ClientConfig['credentials'];
  /** part size for objects that fit 10,000 of them; default 8 MiB */
  preferredPartSize?: number;
  /** parts of one object uploading at once; memory ≈ (this + 1) × part size; default 4 */
  partConcurrency?: number;
}

export interface ObjectInfo {
  /** the object's name under the store's prefix */
  name: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

export interface ObjectHead extends ObjectInfo {
  /** the object's x-amz-checksum-sha256: base64 of its sha256, or COMPOSITE "<base64>-<parts>" */
  checksumSha256?: string;
  checksumType?: string;
}

/** An inclusive byte range, as in HTTP's Range: bytes=start-end; no end: to the end of the object. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface ObjectRead {
  body: Readable;
  /** 206 when a range was asked for and served */
  status: number;
  /** bytes in `body` */
  contentLength: number;
  /** the whole object's size */
  totalSize: number;
  /** e.g. "bytes 0-99/1000" on a 206 */
  contentRange?: string;
  etag?: string;
}

export interface OpenUpload {
  name: string;
  uploadId: string;
  initiated?: Date;
}

interface Signalled {
  signal?: AbortSignal;
}

/** Task output objects in one bucket under one key prefix. */
export class ObjectStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  private readonly preferredPartSize: number;
  private readonly partConcurrency: number;

  constructor(config: ObjectStoreConfig, options: ObjectStoreOptions = {}) {
    this.bucket = config.bucket;
    this.prefix = config.prefix;
    this.preferredPartSize = options.preferredPartSize ?? DEFAULT_PART_SIZE;
    this.partConcurrency = options.partConcurrency ?? 4;
    if (!Number.isInteger(this.partConcurrency) || this.partConcurrency < 1 || this.partConcurrency > 64) {
      throw new RangeError(`partConcurrency must be a whole number in [1, 64], got ${this.partConcurrency}`);
    }
    this.client = new S3Client({
      endpoint: config.endpoint,
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      credentials: options.credentials,
      // Every put carries the sha256 this package computes; the SDK's own
      // default (a CRC32 of each body, in JavaScript) would add a second pass.
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
  }

  /** Fails unless the bucket exists and these credentials reach it (a readiness check). */
  async checkBucket({ signal }: Signalled = {}): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
    } catch (err) {
      throw objectStoreError('head bucket', this.bucket, err);
    }
  }

  /**
   * Streams `source` (exactly `size` bytes) to the object `name`: one PUT up
   * to a part's size, else a multipart upload with bounded parts in flight.
   * Every request carries its bytes' sha256, which the server verifies. On
   * any failure or abort nothing is left: no object, no open upload.
   */
  putObjectStream(name: string, size: number, source: ByteSource, options: PutOptions = {}): Promise<PutResult> {
    return putObjectStream(
      { client: this.client, bucket: this.bucket, key: objectKey(this.prefix, name) },
      size,
      source,
      { preferredPartSize: this.preferredPartSize, partConcurrency: this.partConcurrency, ...options },
    );
  }

  /** The object `name` as a stream, or the bytes of `range` (status 206). */
  async getObjectStream(name: string, { range, signal }: Signalled & { range?: ByteRange } = {}): Promise<ObjectRead> {
    const key = objectKey(this.prefix, name);
    const rangeHeader = range && httpRange(range);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: rangeHeader }), {
        abortSignal: signal,
      });
      const body = res.Body instanceof Readable ? res.Body : undefined;
      if (!body) throw new ObjectStoreError('NoBody', `get ${key}: the answer had no readable body`);
      const contentLength = res.ContentLength ?? 0;
      const total = /\/(\d+)$/.exec(res.ContentRange ?? '')?.[1];
      return {
        body,
        status: res.$metadata.httpStatusCode ?? 200,
        contentLength,
        totalSize: total === undefined ? contentLength : Number(total),
        contentRange: res.ContentRange,
        etag: res.ETag,
      };
    } catch (err) {
      throw objectStoreError('get', key, err);
    }
  }

  /** The object's size, ETag and checksum; undefined when there is none. */
  async head(name: string, { signal }: Signalled = {}): Promise<ObjectHead | undefined> {
    const key = objectKey(this.prefix, name);
    try {
      const res = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }),
        { abortSignal: signal },
      );
      return {
        name,
        size: res.ContentLength ?? 0,
        etag: res.ETag,
        lastModified: res.LastModified,
        checksumSha256: res.ChecksumSHA256,
        checksumType: res.ChecksumType,
      };
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw objectStoreError('head', key, err);
    }
  }

  /** Every object whose name starts with `namePrefix`, in key order, a page of up to 1,000 at a time. */
  async *list(namePrefix: string, { signal }: Signalled = {}): AsyncGenerator<ObjectInfo, void, undefined> {
    const prefix = keyPrefix(this.prefix, namePrefix);
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw objectStoreError('list', prefix, err);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          name: object.Key.slice(this.prefix.length),
          size: object.Size ?? 0,
          etag: object.ETag,
          lastModified: object.LastModified,
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * Deletes every object under the folder `namePrefix` (it must end in "/",
   * so "task1/" never takes "task10/"), 1,000 per request; returns how many.
   */
  async deleteByPrefix(namePrefix: string, { signal }: Signalled = {}): Promise<number> {
    const prefix = keyPrefix(this.prefix, namePrefix, { folder: true });
    let deleted = 0;
    let batch: string[] = [];
    for await (const object of this.list(namePrefix, { signal })) {
      batch.push(this.prefix + object.name);
      if (batch.length === 1000) {
        deleted += await this.deleteKeys('delete under', prefix, batch, signal);
        batch = [];
      }
    }
    return deleted + (await this.deleteKeys('delete under', prefix, batch, signal));
  }

  /** Deletes the objects `names`, 1,000 per request; one that is not there is no error. */
  async delete(names: readonly string[], { signal }: Signalled = {}): Promise<void> {
    const keys = names.map((name) => objectKey(this.prefix, name));
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      await this.deleteKeys('delete', `${batch[0]}${batch.length > 1 ? ` and ${batch.length - 1} more` : ''}`, batch, signal);
    }
  }

  /** One DeleteObjects request (up to 1,000 keys); fails naming the first key not deleted. */
  private async deleteKeys(operation: string, subject: string, keys: string[], signal: AbortSignal | undefined): Promise<number> {
    if (keys.length === 0) return 0;
    let res;
    try {
      res = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      throw objectStoreError(operation, subject, err);
    }
    const failed = res.Errors ?? [];
    if (failed.length > 0) {
      const first = failed[0];
      throw new ObjectStoreError(
        first?.Code ?? 'DeleteFailed',
        `${operation} ${subject}: ${failed.length} of ${keys.length} objects not deleted, e.g. ${first?.Key}: ${first?.Code} ${first?.Message}`,
      );
    }
    return keys.length;
  }

  /** Multipart uploads started under `namePrefix` and neither completed nor aborted. */
  async *listOpenMultipartUploads(namePrefix: string, { signal }: Signalled = {}): AsyncGenerator<OpenUpload, void, undefined> {
    const prefix = keyPrefix(this.prefix, namePrefix);
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw objectStoreError('list multipart uploads under', prefix, err);
      }
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue;
        yield { name: upload.Key.slice(this.prefix.length), uploadId: upload.UploadId, initiated: upload.Initiated };
      }
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /**
   * Aborts the open multipart uploads under `namePrefix` started before
   * `olderThan` (those a crashed writer left; their parts cost storage until
   * then); returns how many. One another sweeper aborted first is not counted.
   */
  async abortStaleMultipartUploads(namePrefix: string, olderThan: Date, { signal }: Signalled = {}): Promise<number> {
    // Listed first, aborted after: aborting while paging would move the markers.
    const stale: OpenUpload[] = [];
    for await (const upload of this.listOpenMultipartUploads(namePrefix, { signal })) {
      // One without a start time cannot be judged stale.
      if (upload.initiated && upload.initiated < olderThan) stale.push(upload);
    }
    let aborted = 0;
    for (const upload of stale) {
      const key = this.prefix + upload.name;
      try {
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: upload.uploadId }),
          { abortSignal: signal },
        );
        aborted++;
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchUpload') continue;
        throw objectStoreError('abort multipart upload of', key, err);
      }
    }
    return aborted;
  }

  /** Closes the client's connections. */
  destroy(): void {
    this.client.destroy();
  }
}

function httpRange({ start, end }: ByteRange): string {
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`range.start must be a whole number >= 0, got ${start}`);
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw new RangeError(`range.end must be a whole number >= range.start (${start}), got ${end}`);
  }
  return `bytes=${start}-${end ?? ''}`;
}
