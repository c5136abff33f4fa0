import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { locateTool, withoutTool } from './required-tool.js';

/** An S3-compatible server (VersityGW's posix backend) on 127.0.0.1, for one test file. */
export interface RunningS3Server {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  /** random per server: the gateway's root account */
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** the folder its buckets live in (one sub-folder per bucket) */
  dir: string;
  stop(): Promise<void>;
}

const HOW_TO_PROVIDE =
  'set CLOUDAI_VERSITYGW_BIN to a versitygw binary (bash .ci/provision.sh builds one into $CLOUDAI_TOOLS_DIR, ' +
  'by default ~/.cache/cloudai-tools/versitygw)';

/** The VersityGW binary: CLOUDAI_VERSITYGW_BIN, else the one .ci/provision.sh builds. */
export function locateVersityGw(env: NodeJS.ProcessEnv = process.env): { path: string } | { missing: string } {
  return locateTool('CLOUDAI_VERSITYGW_BIN', 'versitygw', env);
}

/**
 * The VersityGW binary for the suite named `suite`. Without one it throws
 * under CI (a skipped suite would pass the build with the object store
 * untested); elsewhere it warns loudly and returns undefined (skip).
 */
export function requireS3Server(suite: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const located = locateVersityGw(env);
  if ('missing' in located) {
    return withoutTool({ suite, what: 'an S3-compatible server (VersityGW)', why: located.missing, howTo: HOW_TO_PROVIDE, env });
  }
  return located.path;
}

/**
 * Starts VersityGW's posix backend on a free loopback port (never its default
 * of every interface) over a fresh temp folder, with random root keys, and
 * resolves once it answers HTTP. The posix backend keeps object metadata and
 * checksums in user extended attributes, so the folder must be on a
 * filesystem that has them: os.tmpdir() (ext4 on this project's machines)
 * does; point TMPDIR elsewhere where it does not (tmpfs before Linux 6.6).
 */
export async function startS3Server(bin: string, { readyTimeoutMs = 30_000 } = {}): Promise<RunningS3Server> {
  const dir = await mkdtemp(join(tmpdir(), 'cloudai-s3-'));
  try {
    // A port found free can be taken before the gateway binds it: try again then.
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce(bin, dir, await freePort(), readyTimeoutMs);
      } catch (err) {
        if (attempt >= 3 || !(err instanceof PortTaken)) throw err;
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

class PortTaken extends Error {}

async function startOnce(bin: string, dir: string, port: number, readyTimeoutMs: number): Promise<RunningS3Server> {
  const accessKeyId = `cloudai${randomBytes(8).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['--port', `127.0.0.1:${port}`, '--quiet', 'posix', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
  });
  let output = '';
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      // It shuts down gracefully on SIGTERM; one that hangs is killed outright.
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      if (/address already in use/i.test(output)) throw new PortTaken(output);
      throw new Error(`versitygw exited with ${child.exitCode ?? child.signalCode} before answering: ${output}`);
    }
    // Any HTTP answer (an unsigned request gets 403 AccessDenied) means it serves.
    if (await answers(endpoint)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`versitygw did not answer on ${endpoint} within ${readyTimeoutMs} ms: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    region: 'us-east-1',
    dir,
    async stop() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(endpoint, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}
