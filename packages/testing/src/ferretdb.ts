import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { locateTool, withoutTool } from './required-tool.js';

export interface RunningFerretDb {
  /** mongodb://127.0.0.1:PORT/ */
  uri: string;
  stop(): Promise<void>;
}

const HOW_TO_PROVIDE =
  'set MONGODB_URI to a MongoDB-wire server, or CLOUDAI_FERRETDB_BIN to a FerretDB binary ' +
  '(bash .ci/provision.sh builds one into $CLOUDAI_TOOLS_DIR, by default ~/.cache/cloudai-tools/ferretdb-embedded)';

/** The FerretDB binary to start: CLOUDAI_FERRETDB_BIN, else the one .ci/provision.sh builds. */
export function locateFerretDb(env: NodeJS.ProcessEnv = process.env): { path: string } | { missing: string } {
  return locateTool('CLOUDAI_FERRETDB_BIN', 'ferretdb-embedded', env);
}

/**
 * The MongoDB-wire server for the test suite named `suite`: MONGODB_URI if
 * set, else a FerretDB started for the run. With neither, it throws under CI
 * (a skipped suite would pass the build with the MongoDB adapter untested);
 * elsewhere it warns loudly and returns undefined, and the suite skips.
 */
export async function startMongoWireServer(
  suite: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningFerretDb | undefined> {
  if (env.MONGODB_URI) return { uri: env.MONGODB_URI, stop: async () => {} };
  const ferretDb = locateFerretDb(env);
  if ('missing' in ferretDb) {
    const why = `MONGODB_URI is unset and ${ferretDb.missing}`;
    return withoutTool({ suite, what: 'a MongoDB-wire server', why, howTo: HOW_TO_PROVIDE, env });
  }
  return startFerretDb(ferretDb.path);
}

async function startFerretDb(bin: string): Promise<RunningFerretDb> {
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
