import {
  ClientError,
  createChannel,
  createClientFactory,
  Metadata,
  Status,
  type CallOptions,
  type Channel,
  type Client,
  type ClientMiddlewareCall,
  type CompatServiceDefinition,
} from 'nice-grpc';
import { deadlineMiddleware, type DeadlineOptions } from 'nice-grpc-client-middleware-deadline';
import { FLOW_CONTROL_WINDOW_BYTES } from './flow-control.js';
import { channelCredentials, type ClientTls } from './tls.js';

export interface ClientOptions {
  /** deadline applied to every call that does not set its own (ms) */
  defaultDeadlineMs?: number;
  maxMessageBytes?: number;
  /**
   * The credential every call carries as `authorization: Bearer <it>`,
   * asked for at each call (so a refreshed one is used at once); a call
   * that sets its own authorization keeps it.
   */
  bearer?: () => string | undefined;
  /** dial TLS, verifying the server against `tls.ca`; plaintext when unset */
  tls?: ClientTls;
  /** HTTP/2 receive window per stream and connection (bytes); FLOW_CONTROL_WINDOW_BYTES when unset */
  receiveWindowBytes?: number;
}

export interface ServiceClient<D extends CompatServiceDefinition> {
  /** per-call options accept `deadline` (a Date or ms); `deadline: undefined` lifts the default for long streams */
  client: Client<D, DeadlineOptions>;
  channel: Channel;
  close(): void;
}

/**
 * A client for one service on `address`. Every call gets a deadline; pass
 * `{ deadline: undefined }`-free options to override per call, and
 * `signal` to cancel.
 */
export function connect<D extends CompatServiceDefinition>(
  definition: D,
  address: string,
  options: ClientOptions = {},
): ServiceClient<D> {
  const maxBytes = options.maxMessageBytes ?? 8 * 1024 * 1024;
  const channel = createChannel(address, channelCredentials(options.tls), {
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
    // grpc-js backs off reconnects up to 120 s by default; a restarted
    // master or worker should be noticed within seconds.
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 5_000,
    // Streams of large messages (downloads, log reads) are window-bound otherwise.
    'grpc-node.flow_control_window': options.receiveWindowBytes ?? FLOW_CONTROL_WINDOW_BYTES,
  });
  const bearer = options.bearer;
  const client = createClientFactory()
    .use(async function* authorization<Request, Response>(
      call: ClientMiddlewareCall<Request, Response>,
      callOptions: CallOptions,
    ) {
      const token = bearer?.();
      if (token === undefined || callOptions.metadata?.has('authorization')) return yield* call.next(call.request, callOptions);
      const metadata = Metadata(callOptions.metadata).set('authorization', `Bearer ${token}`);
      return yield* call.next(call.request, { ...callOptions, metadata });
    })
    .use(deadlineMiddleware)
    .create(definition, channel, {
      '*': { deadline: options.defaultDeadlineMs ?? 10_000 },
    } as never);
  return { client, channel, close: () => channel.close() };
}

/** Streaming calls that must outlive the default deadline use this as their deadline. */
export const NO_DEADLINE = undefined;

export { ClientError, Status };
