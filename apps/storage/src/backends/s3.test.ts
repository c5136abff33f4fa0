import { createLogger } from '@cloudai/logger';
import { ObjectStore } from '@cloudai/object-store';
import { openSqliteStore } from '@cloudai/store';
import { requireS3Server, tempDir } from '@cloudai/testing';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TaskOutputs } from '../outputs.js';
import { CONTRACT_LIMITS, describeBackendContract } from '../testing/backend-contract.js';
import { END, file } from '../testing/tar.js';
import { startS3Fixture, TEST_BUCKET, TEST_PREFIX } from '../testing/s3.js';
import { S3Backend } from './s3.js';

const bin = requireS3Server('the storage s3 backend against VersityGW');

describe.skipIf(!bin)('s3 backend', () => {
  it('leaves alone a record of another layout (the fs backend’s task folder) that an upload replaces', async () => {
    const s3 = await startS3Fixture(bin!);
    const tmp = await tempDir('cloudai-s3-backend-');
    const store = await openSqliteStore(join(tmp.path, 'metadata.db'));
    const log = createLogger({ name: 's3-backend-test', level: 'silent' });
    const objects = new ObjectStore({ endpoint: s3.server.endpoint, bucket: TEST_BUCKET, prefix: TEST_PREFIX, region: s3.server.region, forcePathStyle: true });
    try {
      const outputs = new TaskOutputs(new S3Backend(objects, store, CONTRACT_LIMITS, log), store, log);
      const meta = { taskId: 't-moved', taskName: 'job', userId: 'alice', submittedAt: new Date(0), assignmentId: 'a1' };
      // Stored by the fs backend over the same records: taskDir is the task folder itself.
      await store.replaceFileMetadata('t-moved', [
        { ...meta, fileName: 'old.txt', filePath: 'old.txt', taskDir: 'alice/job/0/t-moved', fileSize: 3, sha256: 'f'.repeat(64), storedAt: new Date() },
      ]);
      await outputs.upload(meta, (async function* () {
        yield Buffer.concat([file('new.txt', 'new'), END]);
      })());
      const records = await store.listFileMetadata('t-moved');
      expect(records.map((r) => r.filePath)).toEqual(['new.txt']);
      // The new attempt sits inside the old record's "folder", and is still there.
      const parts: Buffer[] = [];
      for await (const chunk of outputs.read(records[0]!)) parts.push(chunk);
      expect(Buffer.concat(parts).toString()).toBe('new');
    } finally {
      objects.destroy();
      await store.close();
      await s3.close();
      await tmp.remove();
    }
  });

  describeBackendContract('s3', async () => {
    const s3 = await startS3Fixture(bin!);
    const tmp = await tempDir('cloudai-s3-backend-');
    const store = await openSqliteStore(join(tmp.path, 'metadata.db'));
    const log = createLogger({ name: 's3-backend-test', level: 'silent' });
    // Storage's own client, as storage.ts makes it: credentials from the AWS variables.
    const objects = new ObjectStore({ endpoint: s3.server.endpoint, bucket: TEST_BUCKET, prefix: TEST_PREFIX, region: s3.server.region, forcePathStyle: true });
    const backend = new S3Backend(objects, store, CONTRACT_LIMITS, log);
    await backend.open();
    return {
      outputs: new TaskOutputs(backend, store, log),
      store,
      strays: (records) => s3.strays(records),
      async close() {
        objects.destroy();
        await store.close();
        await s3.close();
        await tmp.remove();
      },
    };
  });
});
