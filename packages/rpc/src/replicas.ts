import type { Client, CompatServiceDefinition } from 'nice-grpc';
import type { DeadlineOptions } from 'nice-grpc-client-middleware-deadline';
import { clientErrorKind } from './client-errors.js';
import { connect, type ClientOptions, type ServiceClient } from './client.js';

export interface ReplicaOptions extends ClientOptions {
  /** How long a replica that answered UNAVAILABLE is passed over while others are up (ms). */
  downForMs?: number;
  /** Told each time a replica is found unreachable (for logs). */
  onDown?: (address: string, err: unknown) => void;
}

/** One service served by several interchangeable replicas, as one client. */
export interface ReplicaClient<D extends CompatServiceDefinition> {
  /** The same methods as one replica's client; each call goes to a replica that is up. */
  client: Client<D, DeadlineOptions>;
  readonly addresses: readonly string[];
  close(): void;
}

interface Replica<D extends CompatServiceDefinition> {
  address: string;
  connection: ServiceClient<D>;
  /** performance.now() until which the replica is passed over; 0 = up */
  downUntil: number;
}

interface MethodShape {
  requestStream: boolean;
  responseStream: boolean;
}

type AnyMethod = (request: unknown, options?: { signal?: AbortSignal }) => unknown;

/**
 * A client for a service run as several replicas that serve the same data
 * (storage on a shared object store): calls are spread over the replicas in
 * turn, and one that answers UNAVAILABLE (down, draining, unreachable) is
 * passed over for `downForMs` while another is up.
 *
 * What fails over depends on what can be sent again:
 * - a unary call is sent to the next replica at once, so its methods must be
 *   safe to repeat (reads, and deletes that are idempotent);
 * - a server stream moves to the next replica only if the failed one sent
 *   nothing yet; a stream cut midway is the caller's to resume;
 * - a client stream (an upload) cannot be replayed from here: the failure is
 *   thrown, and the caller's retry goes to the next replica.
 * With one address this is a plain client that happens to skip nothing.
 */
export function connectReplicas<D extends CompatServiceDefinition>(
  definition: D,
  addresses: readonly string[],
  options: ReplicaOptions = {},
): ReplicaClient<D> {
  if (addresses.length === 0) throw new Error('connectReplicas: no address given');
  const downForMs = options.downForMs ?? 5_000;
  const replicas: Replica<D>[] = addresses.map((address) => ({ address, connection: connect(definition, address, options), downUntil: 0 }));
  let next = 0;

  /** The replicas to try, in order: those up first, starting at the next in turn; then those down, soonest back first. */
  const order = (): Replica<D>[] => {
    const now = performance.now();
    const start = next;
    next = (next + 1) % replicas.length;
    const rotated = replicas.map((_, i) => replicas[(start + i) % replicas.length]!);
    const up = rotated.filter((r) => r.downUntil <= now);
    const down = rotated.filter((r) => r.downUntil > now).sort((a, b) => a.downUntil - b.downUntil);
    return [...up, ...down];
  };

  /** True when the failure was the replica's unreachability, which it is then marked down for. */
  const failedOver = (replica: Replica<D>, err: unknown): boolean => {
    if (clientErrorKind(err) !== 'unavailable') return false;
    replica.downUntil = performance.now() + downForMs;
    options.onDown?.(replica.address, err);
    return true;
  };
  const up = (replica: Replica<D>) => {
    replica.downUntil = 0;
  };
  const method = (replica: Replica<D>, name: string) => (replica.connection.client as Record<string, AnyMethod>)[name]!;

  const unary = (name: string) => async (request: unknown, callOptions?: { signal?: AbortSignal }) => {
    let last: unknown;
    for (const replica of order()) {
      if (callOptions?.signal?.aborted) break;
      try {
        const response = await method(replica, name)(request, callOptions);
        up(replica);
        return response;
      } catch (err) {
        if (!failedOver(replica, err)) throw err;
        last = err;
      }
    }
    throw last ?? callOptions?.signal?.reason;
  };

  const serverStream = (name: string) =>
    async function* (request: unknown, callOptions?: { signal?: AbortSignal }) {
      let last: unknown;
      for (const replica of order()) {
        if (callOptions?.signal?.aborted) break;
        let answered = false;
        try {
          for await (const message of method(replica, name)(request, callOptions) as AsyncIterable<unknown>) {
            if (!answered) up(replica);
            answered = true;
            yield message;
          }
          return;
        } catch (err) {
          if (!failedOver(replica, err) || answered) throw err;
          last = err;
        }
      }
      throw last ?? callOptions?.signal?.reason;
    };

  const clientStream = (name: string, responseStream: boolean) => {
    if (responseStream) {
      return async function* (request: unknown, callOptions?: { signal?: AbortSignal }) {
        const replica = order()[0]!;
        try {
          yield* method(replica, name)(request, callOptions) as AsyncIterable<unknown>;
        } catch (err) {
          failedOver(replica, err);
          throw err;
        }
      };
    }
    return async (request: unknown, callOptions?: { signal?: AbortSignal }) => {
      const replica = order()[0]!;
      try {
        const response = await method(replica, name)(request, callOptions);
        up(replica);
        return response;
      } catch (err) {
        failedOver(replica, err);
        throw err;
      }
    };
  };

  const client: Record<string, unknown> = {};
  for (const [name, shape] of Object.entries(methodsOf(definition))) {
    client[name] = shape.requestStream
      ? clientStream(name, shape.responseStream)
      : shape.responseStream
        ? serverStream(name)
        : unary(name);
  }
  return {
    client: client as Client<D, DeadlineOptions>,
    addresses: replicas.map((r) => r.address),
    close: () => {
      for (const replica of replicas) replica.connection.close();
    },
  };
}

/** The methods of a service definition, in either of nice-grpc's shapes (ts-proto's `{ methods }` or a plain map). */
function methodsOf(definition: CompatServiceDefinition): Record<string, MethodShape> {
  const d = definition as { methods?: Record<string, MethodShape> } & Record<string, MethodShape>;
  return d.methods !== undefined && typeof d.methods === 'object' && !('requestStream' in d.methods) ? d.methods : d;
}
