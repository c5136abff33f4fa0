import { accessSync, constants } from 'node:fs';
import { withoutTool } from './required-tool.js';

const HOW_TO_PROVIDE = "install Debian's chromium package (bash .ci/provision.sh does), or set CLOUDAI_CHROMIUM to a Chromium binary";

/** CLOUDAI_CHROMIUM when set (a wrong path is reported, not replaced), else Debian's /usr/bin/chromium. */
export function locateChromium(env: NodeJS.ProcessEnv = process.env): { path: string } | { missing: string } {
  const path = env.CLOUDAI_CHROMIUM || '/usr/bin/chromium';
  try {
    accessSync(path, constants.X_OK);
    return { path };
  } catch {
    return { missing: env.CLOUDAI_CHROMIUM ? `CLOUDAI_CHROMIUM=${path} is not an executable` : `${path} is not installed` };
  }
}

/**
 * The Chromium that browser tests drive (playwright-core's executablePath;
 * no browser is downloaded). Without one it throws under CI, and elsewhere
 * warns loudly and returns undefined (the suite skips).
 */
export function requireChromium(suite: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const found = locateChromium(env);
  if ('missing' in found) return withoutTool({ suite, what: 'Chromium', why: found.missing, howTo: HOW_TO_PROVIDE, env });
  return found.path;
}
