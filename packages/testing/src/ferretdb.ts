import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface RunningFerretDb {
  /** mongodb://127.0.0.1:PORT/ */
  uri: string;
  stop(): Promise<void>;
}

/** Where .ci/provision.sh builds tools/ferretdb; CLOUDAI_FERRETDB_BIN overrides. */
export function ferretDbBinary(): string | undefined {
  const candidates = [
    process.env.CLOUDAI_FERRETDB_BIN,
    join(process.env.CLOUDAI_TOOLS_DIR ?? join(homedir(), '.cache', 'cloudai-tools'), 'ferretdb-embedded'),
  ];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

/**
 * The MongoDB URI the Mongo store tests use: MONGODB_URI if set, else a
 * FerretDB started for the test run, else undefined (tests print that they
 * skipped).
 */
export async function startMongoWireServer(): Promise<RunningFerretDb | undefined> {
  if (process.env.MONGODB_URI) return { uri: process.env.MONGODB_URI, stop: async () => {} };
  const bin = ferretDbBinary();
  if (!bin) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'cloudai-ferretdb-'));
  const child = spawn(bin, ['-dir', dir, '-listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const uri = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve(line.trim()));
    child.once('exit', (code) => reject(new Error(`ferretdb exited with ${code}: ${stderr}`)));
  });
  return {
    uri,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
