import { userInfo } from 'node:os';
import { TaskServiceDefinition } from '@cloudai/proto';
import { connect, type ClientTls } from '@cloudai/rpc';
import { ClientError, Metadata, type CallOptions, type Client } from 'nice-grpc';
import { CliError, ExitCode, fromClientError } from './errors.js';
import { MasterAddress, UserName, parseOptions } from './options.js';

export const DEFAULT_MASTER = '127.0.0.1:50051';

/** Every unary call gets this long; the CLI never waits on a silent master forever. */
const CALL_DEADLINE_MS = 10_000;

/** What the deadline middleware that `connect` installs adds to every call's options. */
export interface DeadlineOption {
  deadline?: Date | number;
}

export type MasterClient = Client<typeof TaskServiceDefinition, DeadlineOption>;

/** Where the master is and how the connection to it is secured. */
export interface MasterEndpoint {
  address: string;
  /** TLS (verified against its CA) when set, plaintext otherwise */
  tls?: ClientTls;
}

export interface Master {
  readonly address: string;
  readonly client: MasterClient;
  /** per-call options: the caller's identity (and, through `connect`, a deadline) */
  readonly options: CallOptions;
}

export interface MasterTarget {
  address: string;
  /** where the address came from, to name it in an error */
  source: 'cli' | 'env' | 'default';
}

/** Validates the master address from --master / CLOUDAI_MASTER. */
export function masterAddress(target: MasterTarget): string {
  const name = target.source === 'env' ? 'CLOUDAI_MASTER' : '--master';
  return parseOptions(MasterAddress(name), target.address);
}

/**
 * Who the caller is: CLOUDAI_USER, else the OS account. Bearer tokens replace
 * this later; for now the master trusts the name.
 */
export function currentUser(env: NodeJS.ProcessEnv): string {
  const fromEnv = env.CLOUDAI_USER;
  if (fromEnv !== undefined && fromEnv !== '') return parseOptions(UserName, fromEnv);
  let name: string;
  try {
    name = userInfo().username;
  } catch (err) {
    // Containers often run as a uid with no passwd entry.
    throw new CliError('cannot determine the user name; set CLOUDAI_USER', ExitCode.USAGE, { cause: err });
  }
  return parseOptions(UserName, name);
}

/**
 * Connects to the master, runs `fn`, and always closes the channel so the
 * process can exit. gRPC failures become CliErrors that name the address.
 */
export async function withMaster<T>(
  { address, tls }: MasterEndpoint,
  user: string,
  fn: (master: Master) => Promise<T>,
): Promise<T> {
  const { client, close } = connect(TaskServiceDefinition, address, { defaultDeadlineMs: CALL_DEADLINE_MS, tls });
  const master: Master = {
    address,
    // connect() types its client without the middleware's option; the middleware is there.
    client: client as unknown as MasterClient,
    options: { metadata: Metadata({ 'x-cloudai-user': user }) },
  };
  try {
    return await fn(master);
  } catch (err) {
    if (err instanceof ClientError) throw fromClientError(err, address);
    throw err;
  } finally {
    close();
  }
}
