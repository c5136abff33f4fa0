import type { Command } from 'commander';

/** A command of the program: its names and how to load the module that defines it. */
export interface CommandEntry {
  /** the name and aliases it is typed as */
  names: readonly string[];
  load: () => Promise<(program: Command) => void>;
  /** it acts on the whole program (every other command must be registered first) */
  needsEveryCommand?: boolean;
}

/**
 * Every command, in the order `cloudai --help` lists them: the one place a
 * command is added. Each module is loaded only when its command runs.
 */
export const COMMANDS: readonly CommandEntry[] = [
  { names: ['login'], load: async () => (await import('./commands/login.js')).registerLogin },
  { names: ['whoami'], load: async () => (await import('./commands/whoami.js')).registerWhoami },
  { names: ['task'], load: async () => (await import('./commands/task.js')).registerTask },
  { names: ['dispatch'], load: async () => (await import('./commands/dispatch.js')).registerDispatch },
  { names: ['list'], load: async () => (await import('./commands/list.js')).registerList },
  { names: ['status'], load: async () => (await import('./commands/status.js')).registerStatus },
  { names: ['wait'], load: async () => (await import('./commands/wait.js')).registerWait },
  { names: ['monitor', 'logs'], load: async () => (await import('./commands/monitor.js')).registerMonitor },
  { names: ['events'], load: async () => (await import('./commands/events.js')).registerEvents },
  { names: ['cancel'], load: async () => (await import('./commands/cancel.js')).registerCancel },
  { names: ['files'], load: async () => (await import('./commands/files.js')).registerFiles },
  { names: ['download'], load: async () => (await import('./commands/download.js')).registerDownload },
  { names: ['workers'], load: async () => (await import('./commands/workers.js')).registerWorkers },
  { names: ['users'], load: async () => (await import('./commands/users.js')).registerUsers },
  { names: ['tokens'], load: async () => (await import('./commands/tokens.js')).registerTokens },
  { names: ['version'], load: async () => (await import('./commands/version.js')).registerVersion },
  {
    names: ['completion'],
    load: async () => (await import('./commands/completion.js')).registerCompletion,
    needsEveryCommand: true,
  },
];

/**
 * The word of `argv` that names the command: the first one that is neither
 * a global option nor the value of one. Undefined when there is none.
 */
export function commandWord(argv: readonly string[], program: Command): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return undefined;
    if (!arg.startsWith('-') || arg === '-') return arg;
    if (arg.includes('=')) continue;
    const option = program.options.find((o) => o.long === arg || o.short === arg);
    if (option && (option.required || option.optional)) i++;
  }
  return undefined;
}

/**
 * The commands to register for `argv`: the one it runs, or every command
 * when it runs none (help), one that needs them all, or an unknown word
 * (for commander's "did you mean"); none for the version flag.
 */
export function commandsFor(argv: readonly string[], program: Command, commands: readonly CommandEntry[]): readonly CommandEntry[] {
  const word = commandWord(argv, program);
  // `cloudai -V` prints the program's version and needs no command.
  if (word === undefined && argv.some((a) => a === '-V' || a === '--version')) return [];
  const entry = word === undefined ? undefined : commands.find((c) => c.names.includes(word));
  return entry && !entry.needsEveryCommand ? [entry] : commands;
}
