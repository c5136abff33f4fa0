#!/usr/bin/env node
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_MASTER } from './client.js';
import { registerCancel } from './commands/cancel.js';
import { registerDispatch } from './commands/dispatch.js';
import { registerDownload } from './commands/download.js';
import { registerFiles } from './commands/files.js';
import { registerList } from './commands/list.js';
import { registerMonitor } from './commands/monitor.js';
import { registerStatus } from './commands/status.js';
import { registerTask } from './commands/task.js';
import { registerWait } from './commands/wait.js';
import { registerWorkers } from './commands/workers.js';
import { describeError, ExitCode } from './errors.js';

const HELP_EPILOGUE = `
Exit codes:
  0  success
  1  the operation failed: the master refused it, (wait, monitor, --follow) the task
     did not succeed, or (download) a file failed its checksum
  2  usage error: bad arguments or options, or input the master rejected as invalid
  3  the master could not be reached or did not answer in time
  4  wait --timeout elapsed before the task finished

Environment:
  CLOUDAI_MASTER  master address, like --master (default ${DEFAULT_MASTER})
  CLOUDAI_USER    user name sent to the master (default: your OS user name)
  CLOUDAI_TLS_CA, CLOUDAI_TLS_CERT, CLOUDAI_TLS_KEY
                  like --tls-ca, --tls-cert, --tls-key (default: plaintext)
  NO_COLOR        set to turn off coloured output`;

function packageVersion(): string {
  const pkg: unknown = createRequire(import.meta.url)('../package.json');
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string'
    ? pkg.version
    : '0.0.0';
}

function buildProgram(): Command {
  const program = new Command('cloudai')
    .description('Run tasks as Docker containers on a cloudai cluster.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .addOption(
      new Option('--master <host:port>', 'address of the master').env('CLOUDAI_MASTER').default(DEFAULT_MASTER),
    )
    .addOption(new Option('--tls-ca <file>', "connect over TLS, verifying the master's certificate against this CA (PEM)").env('CLOUDAI_TLS_CA'))
    .addOption(new Option('--tls-cert <file>', 'client certificate (PEM) for a master that requires one (mTLS)').env('CLOUDAI_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'the private key of --tls-cert (PEM)').env('CLOUDAI_TLS_KEY'))
    .addHelpText('after', HELP_EPILOGUE)
    // Set before adding commands, which inherit both settings.
    .exitOverride()
    .configureOutput({
      // Commander puts suggestions on a second line; errors are one line here.
      outputError: (text, write) => write(`${text.trimEnd().replace(/\s*\n\s*/g, ' ')}\n`),
    });
  registerTask(program);
  registerDispatch(program);
  registerList(program);
  registerStatus(program);
  registerWait(program);
  registerMonitor(program);
  registerCancel(program);
  registerFiles(program);
  registerDownload(program);
  registerWorkers(program);
  return program;
}

/** Runs the CLI and returns its exit code; the one place errors become a line on stderr. */
async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
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

// Setting exitCode instead of calling process.exit lets piped stdout drain.
process.exitCode = await run(process.argv);
