import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '@cloudai/logger';
import { openSqliteStore } from '@cloudai/store';
import { tempDir } from '@cloudai/testing';
import { TaskOutputs } from '../outputs.js';
import { CONTRACT_LIMITS, describeBackendContract } from '../testing/backend-contract.js';
import { walk } from '../testing/harness.js';
import { FsBackend, INCOMING } from './fs.js';

describeBackendContract('fs', async () => {
  const tmp = await tempDir('cloudai-fs-backend-');
  const root = join(tmp.path, 'root');
  const store = await openSqliteStore(join(tmp.path, 'metadata.db'));
  const log = createLogger({ name: 'fs-backend-test', level: 'silent' });
  const backend = new FsBackend(root, CONTRACT_LIMITS, log);
  await backend.open();
  return {
    outputs: new TaskOutputs(backend, store, log),
    store,
    async strays(records) {
      const named = new Set(records.map((r) => `${r.taskDir}/${r.filePath}`));
      const incoming = (await readdir(join(root, INCOMING))).map((n) => `${INCOMING}/${n}`);
      const files: string[] = [];
      for (const p of await walk(root)) {
        if (p === INCOMING || p.startsWith(`${INCOMING}/`)) continue;
        // Folders are fine where they hold a recorded file; an empty one is a stray.
        const isParent = [...named].some((f) => f.startsWith(`${p}/`));
        if (!named.has(p) && !isParent) files.push(p);
      }
      return [...incoming, ...files];
    },
    async close() {
      await store.close();
      await tmp.remove();
    },
  };
});
