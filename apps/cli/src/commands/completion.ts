import { Argument, type Command } from 'commander';
import { completionScript, SHELLS, type Shell } from '../completion.js';

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script for every command and option (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(SHELLS))
    .addHelpText(
      'after',
      '\nLoad it in the current shell:\n' +
        '  bash:  source <(cloudai completion bash)\n' +
        '  zsh:   autoload -U compinit && compinit; source <(cloudai completion zsh)\n' +
        '  fish:  cloudai completion fish | source\n' +
        'or add that line to the shell\'s start-up file (~/.bashrc, ~/.zshrc, ~/.config/fish/config.fish).',
    )
    .action((shell: Shell, _opts: unknown, self: Command) => {
      // The program this command is part of: every command is registered when it runs.
      const root = self.parent ?? program;
      process.stdout.write(completionScript(root, shell));
    });
}
