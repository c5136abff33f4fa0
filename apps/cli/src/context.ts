import type { Command } from 'commander';
import { currentUser, DEFAULT_MASTER, masterAddress } from './client.js';
import { shouldColor } from './format.js';
import type { Style } from './render.js';

/** What every command needs besides its own arguments. */
export interface Context {
  master: string;
  user: string;
  style: Style;
}

/**
 * Resolves the global options for `cmd`. Commands call this after validating
 * their own arguments, so a typo is reported before anything else happens.
 */
export function contextOf(cmd: Command): Context {
  const { master } = cmd.optsWithGlobals<{ master: string }>();
  const source = cmd.getOptionValueSourceWithGlobals('master');
  // An empty variable means unset, as for every other cloudai setting.
  const fromEnv = source === 'env' && master !== '';
  return {
    master: masterAddress(
      source === 'cli' ? { address: master, source: 'cli' } : fromEnv ? { address: master, source: 'env' } : { address: DEFAULT_MASTER, source: 'default' },
    ),
    user: currentUser(process.env),
    style: { colour: shouldColor(process.stdout.isTTY, process.env), now: new Date() },
  };
}

export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
