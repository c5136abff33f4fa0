import type { Command } from 'commander';
import { ClientError, Status } from 'nice-grpc';
import { withIdentity } from '../client.js';
import { writeConfig } from '../config-file.js';
import { globalFlags, print } from '../context.js';
import { checkToken, givenToken, masterOf, selectProfile, tlsCaOf, type Connection, type Setting } from '../credentials.js';
import { CliError, ExitCode, serverDetails, UsageError } from '../errors.js';
import { clean } from '../format.js';

/** Far more than any token; a larger input is a mistake, not a token. */
const MAX_STDIN_BYTES = 64 * 1024;

async function readStdinToken(): Promise<Setting> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_STDIN_BYTES) throw new UsageError('--token-stdin read far more than a token; pipe in only the token');
    chunks.push(chunk);
  }
  // `echo $TOKEN |` and files end with a newline; the token has no whitespace.
  const value = Buffer.concat(chunks).toString('utf8').trim();
  if (value === '') throw new UsageError('--token-stdin read nothing: pipe the token in, e.g. cloudai login --token-stdin < token.txt');
  return checkToken({ value, source: 'stdin' });
}

/** Asks the master who the token belongs to; a token it refuses ends login with nothing saved. */
async function whoAmI(connection: Connection): Promise<string> {
  const res = await withIdentity(connection, async (identity) => {
    try {
      return await identity.whoAmI({});
    } catch (err) {
      if (err instanceof ClientError && err.code === Status.UNAUTHENTICATED) {
        throw new CliError(
          `the master at ${connection.address} did not accept the token: ${serverDetails(err)}; nothing was saved`,
          ExitCode.FAILED,
          { cause: err },
        );
      }
      throw err;
    }
  });
  if (!res.user) throw new Error('the master answered without a user');
  return res.user.userName;
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('check a token with the master, then save it and the master address as a profile')
    .option('--token-stdin', 'read the token from standard input')
    .addHelpText(
      'after',
      '\nThe token comes from --token-stdin, else --token or CLOUDAI_TOKEN. The master\n' +
        'is --master, else CLOUDAI_MASTER, else the profile\'s, else 127.0.0.1:50051.\n' +
        'Nothing is saved unless the master accepts the token. The profile (--profile,\n' +
        'CLOUDAI_PROFILE, else the current one, else "default") becomes the current one.\n' +
        'A --tls-ca file is saved with it.\n' +
        '  cloudai login --master 10.0.0.5:50051 --token-stdin < token.txt',
    )
    .action(async (opts: { tokenStdin?: boolean }, self: Command) => {
      const flags = globalFlags(self);
      if (opts.tokenStdin && flags.token !== undefined) throw new UsageError('--token and --token-stdin cannot be combined');
      const selection = selectProfile(flags, process.env);
      const token = opts.tokenStdin ? await readStdinToken() : givenToken(flags, process.env);
      if (token === undefined) {
        throw new UsageError('login needs a token: pipe it to `cloudai login --token-stdin`, or set CLOUDAI_TOKEN');
      }
      const connection: Connection = {
        address: masterOf(flags, process.env, selection),
        token,
        tlsCa: tlsCaOf(flags, process.env, selection),
        tlsCert: flags.tlsCert ?? (process.env.CLOUDAI_TLS_CERT || undefined),
        tlsKey: flags.tlsKey ?? (process.env.CLOUDAI_TLS_KEY || undefined),
      };
      const user = await whoAmI(connection);
      const config = selection.config ?? { profiles: {} };
      config.profiles[selection.name] = {
        ...selection.profile,
        master: connection.address,
        token: token.value,
        ...(connection.tlsCa === undefined ? {} : { tlsCa: connection.tlsCa.value }),
      };
      config.current = selection.name;
      writeConfig(selection.path, config);
      print(`Logged in to ${connection.address} as ${clean(user)} (profile ${selection.name})`);
    });
}
