import { join } from 'node:path';
import mongoose from 'mongoose';
import { afterAll, describe, expect, it } from 'vitest';
import { startMongoWireServer, tempDir } from '@cloudai/testing';
import { openStore } from './open-store.js';

const server = await startMongoWireServer('the openStore MongoDB case');
const dir = await tempDir('cloudai-open-store-');
afterAll(async () => {
  await server?.stop();
  await dir.remove();
});

describe('openStore', () => {
  it('opens the SQLite file when no MongoDB URI is configured', async () => {
    const store = await openStore({ sqlitePath: join(dir.path, 'store.db') });
    expect(store.kind).toBe('sqlite');
    await store.close();
  });

  it('treats an empty MongoDB URI as not configured', async () => {
    const store = await openStore({ mongodbUri: '', sqlitePath: join(dir.path, 'store.db') });
    expect(store.kind).toBe('sqlite');
    await store.close();
  });

  if (!server) {
    it.skip('opens MongoDB when a URI is configured (SKIPPED: no MongoDB-wire server)', () => {});
  } else {
    it('opens MongoDB when a URI is configured, using the database the URI names', async () => {
      const dbName = `cloudai_open_store_${process.pid}_${Date.now()}`;
      const [base, query] = server.uri.split('?');
      const uri = `${(base ?? '').replace(/\/?$/, '/')}${dbName}${query ? `?${query}` : ''}`;
      const store = await openStore({ mongodbUri: uri, sqlitePath: join(dir.path, 'unused.db') });
      const conn = await mongoose.createConnection(server.uri, { dbName }).asPromise();
      try {
        expect(store.kind).toBe('mongodb');
        const names = (await conn.db?.listCollections().toArray())?.map((c) => c.name).sort();
        expect(names).toEqual([
          'ASSIGNMENTS',
          'COUNTERS',
          'EVENTS',
          'FILE_METADATA',
          'LOG_CHUNKS',
          'RESULTS',
          'TASKS',
          'TOKENS',
          'USERS',
          'WORKERS',
        ]);
      } finally {
        await store.close();
        await conn.dropDatabase();
        await conn.close();
      }
    });
  }
});
