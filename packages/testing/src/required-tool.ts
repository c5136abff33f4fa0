import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * A tool's binary: the file `variable` names when set, else `fileName` in
 * the folder .ci/provision.sh builds tools into ($CLOUDAI_TOOLS_DIR, by
 * default ~/.cache/cloudai-tools). A variable naming a missing file is not
 * replaced by the default: a wrong path is something to report.
 */
export function locateTool(
  variable: string,
  fileName: string,
  env: NodeJS.ProcessEnv = process.env,
): { path: string } | { missing: string } {
  const given = env[variable];
  if (given) return existsSync(given) ? { path: given } : { missing: `${variable}=${given} does not exist` };
  const path = join(env.CLOUDAI_TOOLS_DIR ?? join(homedir(), '.cache', 'cloudai-tools'), fileName);
  return existsSync(path) ? { path } : { missing: `${variable} is unset and ${path} does not exist` };
}

/** CI is set to anything but "", "false" or "0". */
export function runningInCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = (env.CI ?? '').trim().toLowerCase();
  return ci !== '' && ci !== 'false' && ci !== '0';
}

export interface MissingTool {
  /** the test suite that needs the tool, e.g. "the MongoDB store contract" */
  suite: string;
  /** what it needs, e.g. "a MongoDB-wire server" */
  what: string;
  /** why it is not there */
  why: string;
  /** how to provide it */
  howTo: string;
  env: NodeJS.ProcessEnv;
}

/**
 * What a suite does without a tool it needs: under CI it throws (a skipped
 * suite would pass the build with its feature untested); elsewhere it warns
 * loudly and returns undefined, and the suite skips.
 */
export function withoutTool(missing: MissingTool): undefined {
  const { suite, what, why, howTo } = missing;
  if (runningInCi(missing.env)) throw new Error(`${suite} cannot run under CI without ${what} (${why}): ${howTo}`);
  const rule = '!'.repeat(78);
  console.warn([rule, `SKIPPED: ${suite}. ${why}.`, `To run it, ${howTo}.`, 'Under CI this fails instead.', rule].join('\n'));
  return undefined;
}
