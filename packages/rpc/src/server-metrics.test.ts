import { isAbortError } from 'abort-controller-x';
import { ServerError, Status, type ServiceImplementation } from 'nice-grpc';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { clientErrorKind } from './client-errors.js';
import { connect, type ServiceClient } from './client.js';
import { invalidArgument, notFound } from './errors.js';
import { startGrpcServer, type RunningGrpcServer } from './server.js';
import { capturedLogs } from './testing/captured-logs.js';
import { EchoDefinition, type EchoMessage } from './testing/echo-service.js';

type Echo = ServiceImplementation<typeof EchoDefinition>;

const running: Array<{ server: RunningGrpcServer; close(): void }> = [];
afterAll(async () => {
  for (const { server, close } of running) {
    close();
    await server.shutdown(1_000);
  }
});

/** An Echo server counting into a fresh registry; `call` and `stream` as given. */
async function countedEcho(implementation: Partial<Echo>, authenticate?: (method: string) => Promise<object>) {
  const registry = new Registry();
  const unused = async () => {
    throw new Error('not used by this test');
  };
  const server = await startGrpcServer({
    listenAddr: '127.0.0.1:0',
    logger: capturedLogs().logger,
    metrics: registry,
    authenticate,
    register: (s) => s.add(EchoDefinition, { call: unused, stream: unused as never, ...implementation }),
  });
  const client: ServiceClient<typeof EchoDefinition> = connect(EchoDefinition, server.address);
  running.push({ server, close: () => client.close() });
  return { registry, echo: client.client, address: server.address };
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  return (await metric.get()).values as Sample[];
}

/** cloudai_grpc_server_handled_total per "Method code", e.g. { 'Call OK': 2 }. */
async function handled(registry: Registry): Promise<Record<string, number>> {
  const values = await samples(registry, 'cloudai_grpc_server_handled_total');
  return Object.fromEntries(
    values.map((v) => {
      expect(v.labels.service).toBe('cloudai.test.Echo');
      return [`${v.labels.method} ${v.labels.code}`, v.value];
    }),
  );
}

/** How many calls of `method` cloudai_grpc_server_handling_seconds observed. */
async function timed(registry: Registry, method: string): Promise<number> {
  const values = await samples(registry, 'cloudai_grpc_server_handling_seconds');
  return values.find((v) => v.metricName === 'cloudai_grpc_server_handling_seconds_count' && v.labels.method === method)?.value ?? 0;
}

describe('gRPC server metrics', () => {
  it('count each finished call by method and the status the client got, and time it', async () => {
    const { registry, echo } = await countedEcho({
      async call(request) {
        if (request.text === 'missing') throw notFound('no such echo');
        if (request.text === 'bad') throw invalidArgument('text is bad');
        if (request.text === 'refused') throw new ServerError(Status.PERMISSION_DENIED, 'not yours');
        if (request.text === 'bug') throw new Error('a bug');
        return request;
      },
    });
    for (const text of ['a', 'b', 'missing', 'bad', 'bad', 'refused', 'bug']) {
      // The refusals are what is being counted here.
      await echo.call({ text }).catch(() => undefined);
    }
    expect(await handled(registry)).toEqual({
      'Call OK': 2,
      'Call NOT_FOUND': 1,
      'Call INVALID_ARGUMENT': 2,
      'Call PERMISSION_DENIED': 1,
      // Unexpected errors are counted as what the client sees after error mapping.
      'Call INTERNAL': 1,
    });
    expect(await timed(registry, 'Call')).toBe(7);
  });

  it('count calls the authentication refused', async () => {
    const { registry, echo } = await countedEcho({ call: async (r) => r }, async () => {
      throw new ServerError(Status.UNAUTHENTICATED, 'no token');
    });
    await expect(echo.call({ text: 'x' })).rejects.toSatisfy((err) => clientErrorKind(err) === 'unauthenticated');
    expect(await handled(registry)).toEqual({ 'Call UNAUTHENTICATED': 1 });
  });

  it('count a server stream once, when the whole stream has ended', async () => {
    const release = Promise.withResolvers<void>();
    const { registry, echo } = await countedEcho({
      async *stream(request) {
        yield request;
        await release.promise;
        yield { text: 'last' };
      },
    });
    const received: EchoMessage[] = [];
    const iterator = echo.stream({ text: 'first' })[Symbol.asyncIterator]();
    received.push((await iterator.next()).value as EchoMessage);
    // In flight: neither counted nor timed yet.
    expect(await handled(registry)).toEqual({});
    expect(await timed(registry, 'Stream')).toBe(0);
    release.resolve();
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) received.push(next.value);
    expect(received).toEqual([{ text: 'first' }, { text: 'last' }]);
    expect(await handled(registry)).toEqual({ 'Stream OK': 1 });
    expect(await timed(registry, 'Stream')).toBe(1);
  });

  /** Serves `stream`, reads its first message and cancels; resolves with the registry once the handler has ended. */
  async function cancelAfterFirst(stream: Echo['stream']): Promise<Registry> {
    const ended = Promise.withResolvers<void>();
    const { registry, echo } = await countedEcho({
      async *stream(request, context) {
        try {
          yield* stream(request, context);
        } finally {
          ended.resolve();
        }
      },
    });
    const controller = new AbortController();
    const reading = (async () => {
      for await (const _ of echo.stream({ text: 'first' }, { signal: controller.signal })) controller.abort();
    })();
    await expect(reading).rejects.toSatisfy(isAbortError);
    await ended.promise;
    return registry;
  }

  it('count a stream the client cancelled as CANCELLED', async () => {
    const registry = await cancelAfterFirst(async function* (request, context) {
      yield request;
      await new Promise((_, reject) => context.signal.addEventListener('abort', () => reject(context.signal.reason as Error)));
    });
    await expect.poll(() => handled(registry)).toEqual({ 'Stream CANCELLED': 1 });
  });

  it('count a stream whose handler ignores the cancel as CANCELLED: the server stops pulling it', async () => {
    // Never looks at its signal: only the server's ending the generator stops it.
    const registry = await cancelAfterFirst(async function* () {
      for (;;) yield { text: 'x'.repeat(1024 * 1024) };
    });
    await expect.poll(() => handled(registry)).toEqual({ 'Stream CANCELLED': 1 });
  });

  it('count a unary call answered after the client left as CANCELLED', async () => {
    const entered = Promise.withResolvers<void>();
    const answered = Promise.withResolvers<void>();
    const { registry, echo } = await countedEcho({
      async call(request, context) {
        entered.resolve();
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
        answered.resolve();
        return request;
      },
    });
    const controller = new AbortController();
    const call = echo.call({ text: 'late' }, { signal: controller.signal });
    await entered.promise;
    controller.abort();
    await expect(call).rejects.toSatisfy(isAbortError);
    await answered.promise;
    await expect.poll(() => handled(registry)).toEqual({ 'Call CANCELLED': 1 });
  });

  it('make no labels for methods the server does not have', async () => {
    const { registry, echo, address } = await countedEcho({ call: async (r) => r });
    await echo.call({ text: 'known' });
    const Unknown = { call: { ...EchoDefinition.call, path: '/cloudai.test.Echo/NoSuchMethod' } };
    const Elsewhere = { call: { ...EchoDefinition.call, path: '/evil.Service/Anything' } };
    for (const definition of [Unknown, Elsewhere]) {
      const stranger = connect(definition, address);
      try {
        await expect(stranger.client.call({ text: 'x' })).rejects.toMatchObject({ code: Status.UNIMPLEMENTED });
      } finally {
        stranger.close();
      }
    }
    expect(await handled(registry)).toEqual({ 'Call OK': 1 });
    const timedMethods = (await samples(registry, 'cloudai_grpc_server_handling_seconds')).map((v) => v.labels.method);
    expect(new Set(timedMethods)).toEqual(new Set(['Call']));
  });
});
