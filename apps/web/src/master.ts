import { EventServiceDefinition, IdentityServiceDefinition, TaskServiceDefinition } from '@cloudai/proto';
import { connect, type ClientTls, type ServiceClient } from '@cloudai/rpc/client';
import { Metadata, type CallOptions, type Client, type CompatServiceDefinition } from 'nice-grpc';

/** Every unary call gets this long: a request never waits on a silent master for ever. */
const CALL_DEADLINE_MS = 10_000;

/** What the deadline middleware that `connect` installs adds to every call's options. */
export interface DeadlineOption {
  deadline?: Date | number;
}

type ClientOf<D extends CompatServiceDefinition> = Client<D, DeadlineOption>;

/** The master's services, over channels shared by every request; each call carries its caller's token. */
export class MasterClients {
  private readonly connections: ServiceClient<CompatServiceDefinition>[] = [];
  readonly tasks: ClientOf<typeof TaskServiceDefinition>;
  readonly events: ClientOf<typeof EventServiceDefinition>;
  readonly identity: ClientOf<typeof IdentityServiceDefinition>;

  constructor(address: string, tls: ClientTls | undefined) {
    const open = <D extends CompatServiceDefinition>(definition: D): ClientOf<D> => {
      // No bearer here: the token is the request's, set on each call (asUser).
      const connection = connect(definition, address, { defaultDeadlineMs: CALL_DEADLINE_MS, tls });
      this.connections.push(connection as unknown as ServiceClient<CompatServiceDefinition>);
      // connect() types its client without the middleware's option; the middleware is there.
      return connection.client as unknown as ClientOf<D>;
    };
    this.tasks = open(TaskServiceDefinition);
    this.events = open(EventServiceDefinition);
    this.identity = open(IdentityServiceDefinition);
  }

  close(): void {
    for (const connection of this.connections) connection.close();
  }
}

/**
 * The options of a call made as the user whose API token this is, cancelled
 * with `signal` (the HTTP request's: a client that goes away cancels it).
 */
export function asUser(token: string, signal: AbortSignal, extra: CallOptions & DeadlineOption = {}): CallOptions & DeadlineOption {
  return { ...extra, signal, metadata: Metadata({ authorization: `Bearer ${token}` }) };
}
