import type { Command } from 'commander';
import { withIdentity } from '../client.js';
import { contextOf, print } from '../context.js';
import { describeError } from '../errors.js';
import { clean, formatKeyValues } from '../format.js';
import { CLI_VERSION } from '../version.js';
import { printJson } from '../views.js';

/** The master's version, or the line that says why it is unknown and the exit code that goes with it. */
type MasterVersion =
  | { known: true; version: string; address: string }
  | { known: false; address: string | undefined; line: string; exitCode: number };

async function masterVersion(self: Command): Promise<MasterVersion> {
  let address: string | undefined;
  try {
    const ctx = contextOf(self);
    address = ctx.connection.address;
    const { version } = await withIdentity(ctx.connection, (identity) => identity.getVersion({}));
    return { known: true, version, address };
  } catch (err) {
    return { known: false, address, ...describeError(err, address ?? 'the master') };
  }
}

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description("print the CLI's version and the master's")
    .option('--json', 'print {"cli","master","masterAddress"} as JSON; master is null when unknown, and masterError says why')
    .action(async (opts: { json?: boolean }, self: Command) => {
      const master = await masterVersion(self);
      if (opts.json) {
        printJson({
          cli: CLI_VERSION,
          master: master.known ? master.version : null,
          masterAddress: master.address ?? null,
          ...(master.known ? {} : { masterError: master.line.replace(/^error: /, '') }),
        });
      } else {
        print(
          formatKeyValues([
            ['CLI', CLI_VERSION],
            ['Master', master.known ? `${clean(master.version)} (${master.address})` : 'unknown'],
          ]),
        );
      }
      // The CLI's own version is out either way; the exit code says whether the master's is.
      if (!master.known) {
        process.stderr.write(`${master.line}\n`);
        process.exitCode = master.exitCode;
      }
    });
}
