import { readFile } from 'node:fs/promises';

/** The `version` of the package.json at `packageJson`, or "unknown" when it cannot be read. */
export async function readPackageVersion(packageJson: URL): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(packageJson, 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
