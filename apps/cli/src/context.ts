import type { Command } from 'commander';
import { resolveConnection, type Connection, type GlobalFlags } from './credentials.js';
import { shouldColor } from './format.js';
import type { Style } from './render.js';

/** What every command that calls the master needs besides its own arguments. */
export interface Context {
  connection: Connection;
  style: Style;
}

/** The global options (--master, --token, --profile, --tls-*) wherever on the command line they were given. */
export function globalFlags(cmd: Command): GlobalFlags {
  return cmd.optsWithGlobals<GlobalFlags>();
}

export function styleOf(): Style {
  return { colour: shouldColor(process.stdout.isTTY, process.env), now: new Date() };
}

/**
 * Resolves the global options for `cmd`. Commands call this after validating
 * their own arguments, so a typo is reported before anything else happens.
 */
export function contextOf(cmd: Command): Context {
  return { connection: resolveConnection(globalFlags(cmd), process.env), style: styleOf() };
}

export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
