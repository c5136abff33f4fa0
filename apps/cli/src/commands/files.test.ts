import type { DeleteFilesRequest, ListFilesRequest } from '@cloudai/proto';
import { Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { failWith } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
const files = [
  { path: 'result.txt', size: 12, sha256: SHA_A },
  { path: 'models/model.bin', size: 3 * 1024 * 1024, sha256: SHA_B },
];

describe('cloudai files', () => {
  it('lists path, size and checksum with a total', async () => {
    master.setHandlers({ listFiles: async () => ({ files, totalBytes: 12 + 3 * 1024 * 1024 }) });
    const res = await runCli(['files', 'task-1'], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      [
        'PATH              SIZE  SHA256',
        `result.txt        12 B  ${SHA_A}`,
        `models/model.bin  3 MB  ${SHA_B}`,
        '2 files, 3 MB total',
        '',
      ].join('\n'),
    );
    expect((master.callsTo('listFiles')[0]!.request as ListFilesRequest).taskId).toBe('task-1');
  });

  it('--json prints the list', async () => {
    master.setHandlers({ listFiles: async () => ({ files, totalBytes: 0 }) });
    const res = await runCli(['files', 'task-1', '--json'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(files);
  });

  it('says so when there are none', async () => {
    master.setHandlers({ listFiles: async () => ({ files: [], totalBytes: 0 }) });
    const res = await runCli(['files', 'task-1'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('No output files.\n');
    const json = await runCli(['files', 'task-1', '--json'], env);
    expect(json.stdout).toBe('[]\n');
  });

  it('NOT_FOUND is one line and exit 1', async () => {
    master.setHandlers({ listFiles: failWith(Status.NOT_FOUND, 'task nope not found') });
    const res = await runCli(['files', 'nope'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: task nope not found\n');
  });

  it('files rm deletes the files and says how many', async () => {
    master.setHandlers({ deleteFiles: async () => ({ deletedFiles: 2, deletedBytes: 3 * 1024 * 1024 + 12 }) });
    const res = await runCli(['files', 'rm', 'task-1'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('Deleted 2 files (3 MB)\n');
    expect((master.callsTo('deleteFiles')[0]!.request as DeleteFilesRequest).taskId).toBe('task-1');
    expect(master.callsTo('listFiles')).toHaveLength(0);
  });
});
