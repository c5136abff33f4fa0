import { EventServiceDefinition, IdentityServiceDefinition, TaskServiceDefinition } from '@cloudai/proto';
import { connect } from '@cloudai/rpc/client';
import { ClientError, type Client, type CompatServiceDefinition } from 'nice-grpc';
import type { Connection } from './credentials.js';
import { fromClientError } from './errors.js';
import { noteMasterContact } from './master-contact.js';
import { masterTls } from './tls.js';

/** Every unary call gets this long; the CLI never waits on a silent master forever. */
const CALL_DEADLINE_MS = 10_000;

/** What the deadline middleware that `connect` installs adds to every call's options. */
export interface DeadlineOption {
  deadline?: Date | number;
}

export type MasterClient = Client<typeof TaskServiceDefinition, DeadlineOption>;
export type IdentityClient = Client<typeof IdentityServiceDefinition, DeadlineOption>;
export type EventsClient = Client<typeof EventServiceDefinition, DeadlineOption>;

export interface Master {
  readonly address: string;
  /** every call carries the token as `authorization: Bearer …` */
  readonly client: MasterClient;
}

/**
 * Connects to `definition` on the master with the connection's token, runs
 * `fn`, and always closes the channel so the process can exit. gRPC failures
 * become CliErrors that name the address and never the token.
 */
async function withService<D extends CompatServiceDefinition, T>(
  definition: D,
  connection: Connection,
  fn: (client: Client<D, DeadlineOption>) => Promise<T>,
  channel: ChannelOptions = {},
): Promise<T> {
  // The one place a CA file turns into channel credentials: TLS whenever a CA is known.
  const tls = masterTls({ ca: connection.tlsCa?.value, cert: connection.tlsCert, key: connection.tlsKey });
  const token = connection.token.value;
  noteMasterContact();
  const { client, close } = connect(definition, connection.address, {
    defaultDeadlineMs: CALL_DEADLINE_MS,
    bearer: () => token,
    tls,
    receiveWindowBytes: channel.receiveWindowBytes,
  });
  try {
    // connect() types its client without the middleware's option; the middleware is there.
    return await fn(client as unknown as Client<D, DeadlineOption>);
  } catch (err) {
    if (err instanceof ClientError) throw fromClientError(err, connection.address);
    throw err;
  } finally {
    close();
  }
}

/** How a command's channel to the master differs from the default one. */
export interface ChannelOptions {
  /** HTTP/2 receive window (bytes): what the master may send before the CLI reads it */
  receiveWindowBytes?: number;
}

/** Runs `fn` with a TaskService client on the master. */
export function withMaster<T>(connection: Connection, fn: (master: Master) => Promise<T>, channel?: ChannelOptions): Promise<T> {
  return withService(TaskServiceDefinition, connection, (client) => fn({ address: connection.address, client }), channel);
}

/** Runs `fn` with an IdentityService client on the master. */
export function withIdentity<T>(connection: Connection, fn: (identity: IdentityClient) => Promise<T>): Promise<T> {
  return withService(IdentityServiceDefinition, connection, fn);
}

/** Runs `fn` with an EventService client on the master. */
export function withEvents<T>(connection: Connection, fn: (events: EventsClient) => Promise<T>): Promise<T> {
  return withService(EventServiceDefinition, connection, fn);
}
