import { spawn } from 'node:child_process';
import { locateTool, withoutTool } from './required-tool.js';

const HOW_TO_PROVIDE =
  'set CLOUDAI_GRPCURL_BIN to a grpcurl binary (bash .ci/provision.sh builds one into $CLOUDAI_TOOLS_DIR, ' +
  'by default ~/.cache/cloudai-tools/grpcurl)';

/** The grpcurl binary: CLOUDAI_GRPCURL_BIN, else the one .ci/provision.sh builds. */
export function locateGrpcurl(env: NodeJS.ProcessEnv = process.env): { path: string } | { missing: string } {
  return locateTool('CLOUDAI_GRPCURL_BIN', 'grpcurl', env);
}

/** grpcurl for the suite named `suite`; without one it throws under CI and returns undefined (skip) elsewhere. */
export function requireGrpcurl(suite: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const located = locateGrpcurl(env);
  if ('missing' in located) return withoutTool({ suite, what: 'grpcurl', why: located.missing, howTo: HOW_TO_PROVIDE, env });
  return located.path;
}

export interface GrpcurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs grpcurl with `args` (plaintext unless they say otherwise). */
export function runGrpcurl(bin: string, args: string[]): Promise<GrpcurlResult> {
  return new Promise((res) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('exit', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}
