import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// A real config folder for the CLI under test: pass `path` as XDG_CONFIG_HOME.

/** Where the CLI reads and writes its config under XDG_CONFIG_HOME=`home`. */
export function configFileIn(home: string): string {
  return join(home, 'cloudai', 'config.json');
}

/** Writes `config` as the CLI's config file under `home`, with `mode` (0600 unless a test wants it open). */
export function writeConfigFile(home: string, config: unknown, mode = 0o600): string {
  const path = configFileIn(home);
  mkdirSync(join(home, 'cloudai'), { recursive: true, mode: 0o700 });
  writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config), { mode });
  // The process umask may have taken bits away from `mode`.
  chmodSync(path, mode);
  return path;
}

export function readConfigFile(home: string): unknown {
  return JSON.parse(readFileSync(configFileIn(home), 'utf8'));
}

/** The permission bits of `path`, e.g. 0o600. */
export function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}
