import mongoose from 'mongoose';
import { afterAll, describe, expect, it } from 'vitest';
import { newTaskId } from '@cloudai/domain';
import { startMongoWireServer } from '@cloudai/testing';
import { describeStoreContract } from '../contract.js';
import { databaseInUri, openMongoStore } from './mongo-store.js';

describe('databaseInUri', () => {
  it('reads the database from the URI path and ignores hosts, credentials and options', () => {
    expect(databaseInUri('mongodb://127.0.0.1:27017/')).toBeUndefined();
    expect(databaseInUri('mongodb://127.0.0.1:27017')).toBeUndefined();
    expect(databaseInUri('mongodb://127.0.0.1:27017/?directConnection=true')).toBeUndefined();
    expect(databaseInUri('mongodb://u:p%2F@h1:1,h2:2/prod?replicaSet=rs0')).toBe('prod');
    expect(databaseInUri('mongodb+srv://cluster.example/my%20db')).toBe('my db');
  });
});

const server = await startMongoWireServer();

if (!server) {
  console.warn('MongoDB store contract SKIPPED: no MONGODB_URI and no FerretDB binary');
  describe.skip('MongoDB store contract SKIPPED: no MONGODB_URI and no FerretDB binary', () => {
    it('needs a MongoDB-wire server', () => {});
  });
} else {
  const { uri } = server;
  // A database of its own per run, so runs against a shared MONGODB_URI never collide.
  const dbName = `cloudai_store_test_${process.pid}_${Date.now()}`;
  afterAll(async () => {
    const conn = await mongoose.createConnection(uri, { dbName }).asPromise();
    await conn.dropDatabase();
    await conn.close();
    await server.stop();
  });

  describeStoreContract('mongodb', () => openMongoStore(uri, { dbName }));

  describe('MongoDB store specifics', () => {
    it('uses the documented collection names, snake_case fields and indexes', async () => {
      const specificDb = `${dbName}_layout`;
      const store = await openMongoStore(uri, { dbName: specificDb });
      const conn = await mongoose.createConnection(uri, { dbName: specificDb }).asPromise();
      try {
        const taskId = newTaskId();
        const now = new Date('2024-01-01T00:00:00.000Z');
        await store.createTask({
          taskId,
          taskName: 't',
          userId: 'u',
          image: 'cloudai-test/busybox:1',
          command: ['true'],
          env: { A: '1' },
          resources: { cpu: 0.5, memoryGb: 1, storageGb: 2, gpu: 0 },
          timeoutSeconds: 60,
          network: false,
          status: 'QUEUED',
          reason: '',
          attempt: 1,
          assignmentId: null,
          workerId: null,
          pinnedWorkerId: null,
          exitCode: null,
          submittedAt: now,
          scheduledAt: null,
          startedAt: null,
          finishedAt: null,
          outputFiles: [],
          outputBytes: 0,
          logBytes: 0,
          idempotencyKey: taskId,
          updatedAt: now,
        });
        await store.registerWorker(
          {
            workerId: 'w1',
            address: '127.0.0.1:1',
            capacity: { cpuMillis: 2500, memoryMb: 3072, storageMb: 1024, gpu: 1 },
            free: { cpuMillis: 2500, memoryMb: 3072, storageMb: 1024, gpu: 1 },
            usage: { cpuPercent: 0, memoryUsedGb: 0, loadAverage1m: 0, runningContainers: 0 },
            version: 'v',
          },
          now,
        );

        const db = conn.db;
        if (!db) throw new Error('no db handle');
        const names = (await db.listCollections().toArray()).map((c) => c.name).sort();
        expect(names).toEqual(['ASSIGNMENTS', 'RESULTS', 'TASKS', 'WORKERS']);

        const raw = await db.collection('TASKS').findOne({ task_id: taskId });
        expect(raw).toMatchObject({
          task_id: taskId,
          task_name: 't',
          user_id: 'u',
          submitted_at: now,
          status: 'QUEUED',
          resources: { cpu: 0.5, memory_gb: 1, storage_gb: 2, gpu: 0 },
          env: [{ name: 'A', value: '1' }],
        });
        expect(raw).not.toHaveProperty('__v');
        const worker = await db.collection('WORKERS').findOne({ worker_id: 'w1' });
        expect(worker).toMatchObject({
          capacity: { cpu_millis: 2500, memory_mb: 3072, storage_mb: 1024, gpu: 1 },
          free: { cpu_millis: 2500, memory_mb: 3072, storage_mb: 1024, gpu: 1 },
        });

        const indexes = async (coll: string) =>
          (await db.collection(coll).indexes()).map((i) => ({ key: i.key, unique: i.unique === true }));
        expect(await indexes('TASKS')).toEqual(
          expect.arrayContaining([
            { key: { task_id: 1 }, unique: true },
            { key: { idempotency_key: 1 }, unique: true },
            { key: { user_id: 1 }, unique: false },
            { key: { task_name: 1 }, unique: false },
            { key: { submitted_at: 1 }, unique: false },
            { key: { status: 1, submitted_at: 1 }, unique: false },
            { key: { worker_id: 1 }, unique: false },
          ]),
        );
        expect(await indexes('RESULTS')).toEqual(
          expect.arrayContaining([
            { key: { task_id: 1 }, unique: true },
            { key: { completed_at: 1 }, unique: false },
          ]),
        );
        expect(await indexes('WORKERS')).toEqual(expect.arrayContaining([{ key: { worker_id: 1 }, unique: true }]));
        expect(await indexes('ASSIGNMENTS')).toEqual(
          expect.arrayContaining([{ key: { assignment_id: 1 }, unique: true }]),
        );
      } finally {
        await store.close();
        await conn.dropDatabase();
        await conn.close();
      }
    });

    it('opens again over an existing database without failing on existing collections and indexes', async () => {
      const again = await openMongoStore(uri, { dbName });
      expect(again.kind).toBe('mongodb');
      await again.close();
    });
  });
}
