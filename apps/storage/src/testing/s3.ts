import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { ObjectStore } from '@cloudai/object-store';
import type { FileMetadataRecord } from '@cloudai/store';
import { startS3Server, type RunningS3Server } from '@cloudai/testing';

export const TEST_BUCKET = 'outputs';
export const TEST_PREFIX = 'cloudai/';

/** A VersityGW with an empty bucket, a client on it, and storage's env for it. */
export interface S3Fixture {
  server: RunningS3Server;
  /** a client of its own, under TEST_PREFIX, to look at what storage stored */
  objects: ObjectStore;
  /** STORAGE_BACKEND=s3 and the S3_* variables for a storage process; the AWS_* credentials too */
  env: Record<string, string>;
  /** every object name and open multipart upload under the prefix, sorted */
  contents(): Promise<{ objects: string[]; uploads: string[] }>;
  /** what `contents` holds that `records` (every record there is) do not explain: objects of no record, open multipart uploads */
  strays(records: readonly FileMetadataRecord[]): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Starts VersityGW and creates TEST_BUCKET. Storage's own client reads the
 * AWS SDK's standard variables, so this process's AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY are set to the server's root keys (each test file
 * runs in its own process).
 */
export async function startS3Fixture(bin: string): Promise<S3Fixture> {
  const server = await startS3Server(bin);
  const credentials = { AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey };
  Object.assign(process.env, credentials);
  const objects = new ObjectStore(
    { endpoint: server.endpoint, bucket: TEST_BUCKET, prefix: TEST_PREFIX, region: server.region, forcePathStyle: true },
    { credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } },
  );
  await objects.client.send(new CreateBucketCommand({ Bucket: TEST_BUCKET }));
  const contents = async () => {
    const names: string[] = [];
    for await (const o of objects.list('')) names.push(o.name);
    const uploads: string[] = [];
    for await (const u of objects.listOpenMultipartUploads('')) uploads.push(u.name);
    return { objects: names.sort(), uploads: uploads.sort() };
  };
  return {
    server,
    objects,
    env: {
      STORAGE_BACKEND: 's3',
      S3_ENDPOINT: server.endpoint,
      S3_BUCKET: TEST_BUCKET,
      S3_PREFIX: TEST_PREFIX,
      S3_REGION: server.region,
      ...credentials,
    },
    contents,
    async strays(records) {
      const { objects: names, uploads } = await contents();
      const explained = new Set<string>();
      for (const r of records) {
        explained.add(`${r.taskDir}/${r.filePath}`);
        explained.add(`${r.taskDir}.manifest.json`);
        explained.add(`.staging/${r.taskDir.slice(r.taskDir.lastIndexOf('/') + 1)}`);
      }
      return [...names.filter((n) => !explained.has(n)), ...uploads.map((u) => `open multipart upload of ${u}`)];
    },
    async close() {
      objects.destroy();
      await server.stop();
    },
  };
}
