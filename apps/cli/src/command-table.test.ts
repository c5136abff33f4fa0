import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { commandsFor, commandWord, COMMANDS } from './command-table.js';

/** The program's global options as cli.ts declares them (those that take a value matter here). */
function program(): Command {
  return new Command('cloudai')
    .option('--master <host:port>')
    .option('--token <token>')
    .option('--profile <name>')
    .option('--tls-ca <file>')
    .option('-V, --version');
}

const argv = (...words: string[]) => ['node', 'cloudai', ...words];

describe('the command table', () => {
  // A name missing here would only make its command slower to start (every command is loaded); check anyway.
  it('lists each command under the names and aliases its module registers', async () => {
    for (const entry of COMMANDS) {
      const p = new Command('cloudai');
      (await entry.load())(p);
      expect(p.commands.map((c) => [c.name(), ...c.aliases()])).toEqual([entry.names]);
    }
  });

  it('finds the command word past global options and their values', () => {
    expect(commandWord(argv('list'), program())).toBe('list');
    expect(commandWord(argv('--master', '127.0.0.1:1', '--token=cai_x', 'list', '--json'), program())).toBe('list');
    expect(commandWord(argv('-V'), program())).toBeUndefined();
    expect(commandWord(argv('--', 'list'), program())).toBeUndefined();
  });

  it('loads only the command that runs; every command for help, completion or a word it does not know', () => {
    const names = (words: string[]) => commandsFor(argv(...words), program(), COMMANDS).map((e) => e.names[0]);
    expect(names(['--master', 'h:1', 'list'])).toEqual(['list']);
    expect(names(['logs', 'x'])).toEqual(['monitor']);
    const all = COMMANDS.map((e) => e.names[0]);
    expect(names([])).toEqual(all);
    expect(names(['--help'])).toEqual(all);
    expect(names(['help', 'list'])).toEqual(all);
    expect(names(['completion', 'bash'])).toEqual(all);
    expect(names(['lsit'])).toEqual(all);
    expect(names(['-V'])).toEqual([]);
    expect(names(['list', '--version'])).toEqual(['list']);
  });
});
