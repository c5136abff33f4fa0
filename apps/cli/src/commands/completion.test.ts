import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../testing/run-cli.js';

// What `--help` lists is what a user can type: every command, subcommand and
// option there must complete, in each shell, for real.

interface HelpNode {
  /** the words that reach it, e.g. ['workers', 'drain'] */
  path: string[];
  /** each subcommand's names (a name and its aliases) */
  commands: string[][];
  /** every flag, short and long, e.g. -h and --help */
  flags: string[];
}

/** The indented lines under "<title>:" in commander's help, each entry's first column. */
function section(help: string, title: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf(`${title}:`);
  if (start < 0) return [];
  const entries: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith(' ')) break;
    if (/^ {2}\S/.test(line)) entries.push(line.trim().split(/ {2,}/)[0]!);
  }
  return entries;
}

async function helpTree(path: string[] = []): Promise<HelpNode[]> {
  const res = await runCli([...path, '--help']);
  expect(res.code).toBe(0);
  const commands = section(res.stdout, 'Commands')
    .map((entry) => entry.split(' ')[0]!.split('|'))
    .filter((names) => names[0] !== 'help');
  const flags = section(res.stdout, 'Options').flatMap((entry) => entry.split(/,\s*/).map((f) => f.split(/[ =[<]/)[0]!));
  const node: HelpNode = { path, commands, flags };
  const children = await Promise.all(commands.map((names) => helpTree([...path, names[0]!])));
  return [node, ...children.flat()];
}

let tree: HelpNode[];
const scripts: Record<string, string> = {};
let dir: string;

beforeAll(async () => {
  tree = await helpTree();
  dir = mkdtempSync(join(tmpdir(), 'cloudai-completion-'));
  for (const shell of ['bash', 'zsh', 'fish']) {
    const res = await runCli(['completion', shell]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    scripts[shell] = res.stdout;
    writeFileSync(join(dir, `cloudai.${shell}`), res.stdout);
  }
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every (path, word) a user can complete: each command name after its parent's path, each flag after its command's. */
function expectations(): { path: string[]; word: string }[] {
  return tree.flatMap((n) => [
    ...n.commands.flatMap((names) => names.map((word) => ({ path: n.path, word }))),
    ...n.flags.map((word) => ({ path: n.path, word })),
  ]);
}

describe('cloudai completion', () => {
  it('knows the whole command tree of --help (sanity check of this test)', () => {
    const paths = tree.map((n) => n.path.join(' '));
    expect(paths).toEqual(expect.arrayContaining(['', 'task', 'workers', 'workers drain', 'workers undrain', 'monitor', 'completion', 'version']));
    expect(tree.find((n) => n.path.join(' ') === 'task')?.flags).toEqual(expect.arrayContaining(['--idempotency-key', '--network', '--help']));
    expect(tree.find((n) => n.path.length === 0)?.flags).toEqual(expect.arrayContaining(['--master', '--token', '-V']));
    expect(expectations().length).toBeGreaterThan(100);
  });

  it('bash: the script parses, and completes every command, subcommand and option', () => {
    execFileSync('bash', ['-n', join(dir, 'cloudai.bash')]);
    // One bash run: for each case, complete the word's first letters after its command's path.
    const cases = expectations();
    const probe = cases
      .map(({ path, word }) => {
        const prefix = word.startsWith('--') ? word.slice(0, 3) : word.slice(0, 1);
        const words = ['cloudai', ...path, prefix].map((w) => `'${w}'`).join(' ');
        return `COMP_WORDS=(${words}); COMP_CWORD=${path.length + 1}; COMPREPLY=(); _cloudai; echo "\${COMPREPLY[*]}"`;
      })
      .join('\n');
    const out = execFileSync('bash', ['-c', `source '${join(dir, 'cloudai.bash')}'\n${probe}`], { encoding: 'utf8' }).split('\n');
    const missing = cases.filter(({ word }, i) => !(out[i] ?? '').split(' ').includes(word));
    expect(missing).toEqual([]);
  });

  it('bash: skips options and their values to find the command, and offers choices', () => {
    const complete = (...words: string[]) =>
      execFileSync(
        'bash',
        ['-c', `source '${join(dir, 'cloudai.bash')}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _cloudai; echo "\${COMPREPLY[*]}"`],
        { encoding: 'utf8' },
      ).trim();
    expect(complete('cloudai', '--master', 'host:1', 'workers', 'dr')).toBe('drain');
    expect(complete('cloudai', 'logs', '--ti')).toBe('--timestamps');
    expect(complete('cloudai', 'completion', '')).toBe('bash zsh fish');
    // After an option that takes a value: nothing of ours, so bash falls back to file names.
    expect(complete('cloudai', 'task', '--cpu', '')).toBe('');
  });

  it('fish: the script parses, and completes every command, subcommand and option', () => {
    execFileSync('fish', ['--no-execute', join(dir, 'cloudai.fish')]);
    const cases = expectations();
    const probe = cases
      .map(({ path, word }) => {
        // A whole short flag would complete to stacked ones (-h → -hV): list them all instead.
        const prefix = word.startsWith('--') ? word.slice(0, 3) : word.startsWith('-') ? '-' : word.slice(0, 1);
        // One line per case, empty when nothing completes.
        return `echo (complete -C '${['cloudai', ...path, prefix].join(' ')}' | string join ' ')`;
      })
      .join('\n');
    // From an empty folder, so file names cannot make a word appear.
    const out = execFileSync('fish', ['-c', `source '${join(dir, 'cloudai.fish')}'\n${probe}`], { encoding: 'utf8', cwd: dir }).split('\n');
    const missing = cases.filter(({ word }, i) => !(out[i] ?? '').split(/[\t ]/).includes(word));
    expect(missing).toEqual([]);
  });

  it('zsh: the script parses and names every command, subcommand and option', () => {
    execFileSync('zsh', ['-n', join(dir, 'cloudai.zsh')]);
    const script = scripts.zsh!;
    expect(script.startsWith('#compdef cloudai\n')).toBe(true);
    const missing = expectations().filter(({ word }) => !script.includes(`'${word}:`));
    expect(missing).toEqual([]);
  });

  it('an unknown shell is a usage error, exit 2', async () => {
    const res = await runCli(['completion', 'powershell']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error: command-argument value 'powershell' is invalid for argument 'shell'/);
  });
});
