/** CI is set to anything but "", "false" or "0". */
export function runningInCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = (env.CI ?? '').trim().toLowerCase();
  return ci !== '' && ci !== 'false' && ci !== '0';
}

export interface MissingTool {
  /** the test suite that needs it */
  suite: string;
  /** what it needs, e.g. "a MongoDB-wire server" */
  what: string;
  /** why it is missing */
  why: string;
  /** what to do to provide it */
  howToProvide: string;
}

/**
 * What a suite does when something it needs is missing: under CI it throws,
 * since a skipped suite would pass the build with its feature untested;
 * elsewhere it warns loudly, saying how to provide it, and returns
 * undefined, and the suite skips.
 */
export function missingTool({ suite, what, why, howToProvide }: MissingTool, env: NodeJS.ProcessEnv = process.env): undefined {
  if (runningInCi(env)) {
    throw new Error(`${suite} cannot run under CI without ${what} (${why}): ${howToProvide}`);
  }
  const rule = '!'.repeat(78);
  console.warn(
    [rule, `SKIPPED: ${suite}. ${why}.`, `To run it, ${howToProvide}.`, 'Under CI this fails instead.', rule].join('\n'),
  );
  return undefined;
}
