import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SigningKey, issueMasterAssertion } from '@cloudai/auth';
import { StorageServiceDefinition } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { ClientError, Metadata, Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asMaster,
  grantFor,
  startHarness,
  SUBMITTED_SECS,
  TEST_MASTER_KEY,
  uploadMessages,
  walk,
  type Harness,
} from './testing/harness.js';
import { END, file } from './testing/tar.js';

// Storage trusts no caller by name: an upload is filed where the master's
// grant says, and only the master may list, download or delete.

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

async function refusal(call: Promise<unknown>): Promise<ClientError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ClientError)) throw new Error(`expected a refusal, got ${String(err)}`);
  return err;
}

const nothingStored = async () => {
  expect(await readdir(h.root)).toEqual(['.incoming']);
  expect(await readdir(join(h.root, '.incoming'))).toEqual([]);
};

describe('uploads need the master grant for that one assignment', () => {
  it.each([
    ['no grant', '', /header\.grant is required/],
    ['a grant signed by another key', grantFor({ taskId: 't1' }, SigningKey.generate()), /upload grant refused: bad signature/],
    ['an expired grant', grantFor({ taskId: 't1' }, undefined, new Date(Date.now() - 2 * 3_600_000)), /upload grant refused: expired/],
    ['a master assertion instead of a grant', issueMasterAssertion(TEST_MASTER_KEY, 'storage'), /upload grant refused: (wrong kind|malformed)/],
    ['text that is no token at all', 'x'.repeat(10_000), /upload grant refused: malformed/],
  ])('refuses %s with UNAUTHENTICATED, storing nothing', async (_, grant, message) => {
    const err = await refusal(h.client.uploadOutputs(uploadMessages({ taskId: 't1', grant }, [file('a.txt', 'x'), END])));
    expect(err.code).toBe(Status.UNAUTHENTICATED);
    expect(err.details).toMatch(message);
    await nothingStored();
    expect(await h.store.listFileMetadata('t1')).toEqual([]);
  });

  it("files an upload where its grant says, whatever else the worker claims: a grant for one task uploads only that task's", async () => {
    const grant = grantFor({ taskId: 'owned', userId: 'alice', taskName: 'job' });
    await h.client.uploadOutputs(uploadMessages({ taskId: 'someone-else', userId: 'mallory', grant }, [file('a.txt', 'x'), END]));
    expect(await walk(h.root)).toEqual(
      expect.arrayContaining([`alice/job/${SUBMITTED_SECS}/owned/a.txt`]),
    );
    expect((await walk(h.root)).some((p) => p.includes('mallory') || p.includes('someone-else'))).toBe(false);
    expect((await h.store.listFileMetadata('owned')).map((f) => [f.userId, f.filePath])).toEqual([['alice', 'a.txt']]);
    expect(await h.store.listFileMetadata('someone-else')).toEqual([]);
  });
});

describe('listing, downloading and deleting are the master alone', () => {
  let anyone: ReturnType<typeof connect<typeof StorageServiceDefinition>>;
  beforeAll(async () => {
    anyone = connect(StorageServiceDefinition, h.storage.address);
    await h.client.uploadOutputs(uploadMessages({ taskId: 'kept', userId: 'alice' }, [file('secret.txt', 'data'), END]));
  });
  afterAll(() => anyone?.close());

  const forged = () => ({ metadata: Metadata({ authorization: `Bearer ${issueMasterAssertion(SigningKey.generate(), 'storage')}` }) });
  const forWorker = () => ({ metadata: Metadata({ authorization: `Bearer ${issueMasterAssertion(TEST_MASTER_KEY, 'worker:w1')}` }) });

  it.each([
    ['no credential', () => ({}), /only the master may call/],
    ['an assertion signed by another key', forged, /bad signature/],
    ['an assertion meant for a worker', forWorker, /wrong audience/],
  ])('refuses %s with UNAUTHENTICATED', async (_, options, message) => {
    for (const call of [
      () => anyone.client.listFiles({ taskId: 'kept' }, options()),
      () => anyone.client.deleteFiles({ taskId: 'kept' }, options()),
      async () => {
        for await (const _part of anyone.client.downloadFiles({ taskId: 'kept', path: '' }, options()));
      },
    ]) {
      const err = await refusal(call());
      expect(err.code).toBe(Status.UNAUTHENTICATED);
      expect(err.details).toMatch(message);
    }
    expect((await h.store.listFileMetadata('kept')).map((f) => f.filePath)).toEqual(['secret.txt']);
  });

  it("serves the master's own calls", async () => {
    expect((await anyone.client.listFiles({ taskId: 'kept' }, asMaster())).files.map((f) => f.path)).toEqual(['secret.txt']);
  });
});
