import { createLogger } from '@cloudai/logger';
import { ObjectStore } from '@cloudai/object-store';
import { openSqliteStore } from '@cloudai/store';
import { requireS3Server, tempDir } from '@cloudai/testing';
import { join } from 'node:path';
import { describe } from 'vitest';
import { TaskOutputs } from '../outputs.js';
import { CONTRACT_LIMITS, describeBackendContract } from '../testing/backend-contract.js';
import { startS3Fixture, TEST_BUCKET, TEST_PREFIX } from '../testing/s3.js';
import { S3Backend } from './s3.js';

const bin = requireS3Server('the storage s3 backend against VersityGW');

describe.skipIf(!bin)('s3 backend', () => {
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
