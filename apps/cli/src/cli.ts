import { Command, CommanderError, Option } from 'commander';
import { COMMANDS, commandsFor } from './command-table.js';
import { DEFAULT_MASTER, DEFAULT_PROFILE } from './credentials.js';
import { describeError, ExitCode } from './errors.js';
import { redactTokens } from './token-format.js';
import { CLI_VERSION } from './version.js';

export { masterContacted } from './master-contact.js';

const HELP_EPILOGUE = `
Exit codes:
  0  success
  1  the operation failed: the master refused it (not logged in, a token it does not
     accept, not allowed), (wait, monitor, --follow) the task did not succeed, or
     (download) a file failed its checksum
  2  usage error: bad arguments, options, environment or config file, or input the
     master rejected as invalid
  3  the master could not be reached or did not answer in time
  4  wait --timeout elapsed before the task finished

Credentials:
  Commands send the master an API token (cai_...): --token, else CLOUDAI_TOKEN, else
  the profile's. The master is --master, else CLOUDAI_MASTER, else
  the profile's, else ${DEFAULT_MASTER}. \`cloudai login\` checks a token and saves it
  with the master address as a profile in the config file:
    $XDG_CONFIG_HOME/cloudai/config.json (default ~/.config/cloudai/config.json)
  It holds secrets: it must be mode 0600 (chmod 600), or cloudai refuses to read it.

Environment:
  CLOUDAI_TOKEN    API token, like --token
  CLOUDAI_MASTER   master address, like --master
  CLOUDAI_PROFILE  profile of the config file, like --profile (default: the file's
                   "current", else "${DEFAULT_PROFILE}")
  CLOUDAI_TLS_CA, CLOUDAI_TLS_CERT, CLOUDAI_TLS_KEY
                   like --tls-ca, --tls-cert, --tls-key (default: plaintext)
  XDG_CONFIG_HOME  folder of the config file (default: ~/.config)
  NO_COLOR         set to turn off coloured output`;

/** The program with its global options and no commands yet. */
function baseProgram(): Command {
  const program = new Command('cloudai')
    .description('Run tasks as Docker containers on a cloudai cluster.')
    .version(CLI_VERSION, '-V, --version', 'print the version of the CLI (`cloudai version`: the master\'s too)')
    // Their variables and profile fallbacks are resolved in credentials.ts, where every source is named.
    .addOption(new Option('--master <host:port>', `address of the master (default: the profile's, else ${DEFAULT_MASTER})`))
    .addOption(
      new Option('--token <token>', 'API token; prefer CLOUDAI_TOKEN or `cloudai login`, as other users can see command lines'),
    )
    .addOption(new Option('--profile <name>', `profile of the config file (default: its current one, else "${DEFAULT_PROFILE}")`))
    .addOption(new Option('--tls-ca <file>', "connect over TLS, verifying the master against this CA (PEM; default: CLOUDAI_TLS_CA, else the profile's)"))
    .addOption(new Option('--tls-cert <file>', 'client certificate (PEM) for a master that requires one (mTLS)').env('CLOUDAI_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'the private key of --tls-cert (PEM)').env('CLOUDAI_TLS_KEY'))
    .addHelpText('after', HELP_EPILOGUE)
    // Set before adding commands, which inherit both settings.
    .exitOverride()
    .configureOutput({
      // Commander puts suggestions on a second line; errors are one line here,
      // and a token pasted in the wrong place ("unknown command 'cai_…'") is not repeated.
      outputError: (text, write) => write(`${redactTokens(text.trimEnd().replace(/\s*\n\s*/g, ' '))}\n`),
    });
  return program;
}

/**
 * The program for `argv`: only the command being run is loaded (with the
 * modules it needs), so `cloudai list` does not pay for the other commands.
 */
async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = baseProgram();
  for (const entry of commandsFor(argv, program, COMMANDS)) (await entry.load())(program);
  return program;
}

/** Runs the CLI and returns its exit code; the one place errors become a line on stderr. */
export async function run(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
  } catch (err) {
    // Commander has already printed its own message (or the help/version text).
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    const { line, exitCode } = describeError(err, String(program.opts<{ master?: string }>().master ?? DEFAULT_MASTER));
    process.stderr.write(`${line}\n`);
    return exitCode;
  }
}
