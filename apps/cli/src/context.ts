import type { Command } from 'commander';
import { currentUser, DEFAULT_MASTER, masterAddress, type MasterEndpoint } from './client.js';
import { shouldColor } from './format.js';
import type { Style } from './render.js';
import { masterTls } from './tls.js';

/** What every command needs besides its own arguments. */
export interface Context {
  master: MasterEndpoint;
  user: string;
  style: Style;
}

/**
 * Resolves the global options for `cmd`. Commands call this after validating
 * their own arguments, so a typo is reported before anything else happens.
 */
export function contextOf(cmd: Command): Context {
  const { master, tlsCa, tlsCert, tlsKey } = cmd.optsWithGlobals<{ master: string; tlsCa?: string; tlsCert?: string; tlsKey?: string }>();
  const source = cmd.getOptionValueSourceWithGlobals('master');
  // An empty variable means unset, as for every other cloudai setting.
  const fromEnv = source === 'env' && master !== '';
  const address = masterAddress(
    source === 'cli' ? { address: master, source: 'cli' } : fromEnv ? { address: master, source: 'env' } : { address: DEFAULT_MASTER, source: 'default' },
  );
  return {
    master: { address, tls: masterTls({ ca: nonEmpty(tlsCa), cert: nonEmpty(tlsCert), key: nonEmpty(tlsKey) }) },
    user: currentUser(process.env),
    style: { colour: shouldColor(process.stdout.isTTY, process.env), now: new Date() },
  };
}

/** Like CLOUDAI_MASTER, an empty CLOUDAI_TLS_* variable means unset. */
const nonEmpty = (s: string | undefined) => (s === '' ? undefined : s);

export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
