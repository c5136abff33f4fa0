import { isAbortError } from 'abort-controller-x';
import type { CallContext, ServiceImplementation } from 'nice-grpc';
import type { Logger } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { clientErrorKind } from './client-errors.js';
import { connect, type ServiceClient } from './client.js';
import { startGrpcServer, type RunningGrpcServer } from './server.js';
import { capturedLogs } from './testing/captured-logs.js';
import { EchoDefinition, type EchoMessage } from './testing/echo-service.js';

type Echo = ServiceImplementation<typeof EchoDefinition>;

const running: Array<{ server: RunningGrpcServer; client: ServiceClient<typeof EchoDefinition> }> = [];
// Handlers that must outlive a forced shutdown wait on this; released at the end.
const endOfFile = Promise.withResolvers<void>();

afterAll(async () => {
  endOfFile.resolve();
  for (const { server, client } of running) {
    client.close();
    await server.shutdown(1_000);
  }
});

async function startEcho(implementation: Partial<Echo>, logger: Logger = capturedLogs().logger) {
  const unused = async () => {
    throw new Error('not used by this test');
  };
  const server = await startGrpcServer({
    listenAddr: '127.0.0.1:0',
    logger,
    register: (s) => s.add(EchoDefinition, { call: unused, stream: unused as never, ...implementation }),
  });
  const client = connect(EchoDefinition, server.address);
  running.push({ server, client });
  return { server, echo: client.client };
}

/** Resolves when `context.signal` aborts: what the handler observed, on the server side. */
function abortSeenBy(context: CallContext): Promise<'aborted'> {
  return new Promise((resolve) => {
    if (context.signal.aborted) resolve('aborted');
    context.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
}

describe('shutdown', () => {
  it('waits for a call in flight to finish, then stops', async () => {
    const entered = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const { logger, lines } = capturedLogs();
    const { server, echo } = await startEcho(
      {
        async call(request) {
          entered.resolve();
          await release.promise;
          return request;
        },
      },
      logger,
    );
    const call = echo.call({ text: 'drain me' });
    await entered.promise;
    const stopped = server.shutdown(60_000);
    expect(server.state()).toBe('DRAINING');
    release.resolve();
    expect(await call).toEqual({ text: 'drain me' });
    await stopped;
    expect(server.state()).toBe('STOPPED');
    expect(lines).toEqual([]);
  });

  it('cancels a call that outlives the deadline (forceShutdown), and returns', async () => {
    const entered = Promise.withResolvers<void>();
    const { logger, lines } = capturedLogs();
    const { server, echo } = await startEcho(
      {
        // Never finishes on its own, and ignores its signal.
        async call(): Promise<EchoMessage> {
          entered.resolve();
          await endOfFile.promise;
          return { text: 'too late' };
        },
      },
      logger,
    );
    const outcome = echo.call({ text: 'hang' }).then(
      () => 'answered',
      (err: unknown) => clientErrorKind(err),
    );
    await entered.promise;
    await server.shutdown(100);
    expect(server.state()).toBe('STOPPED');
    expect(['cancelled', 'unavailable']).toContain(await outcome);
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, msg: 'in-flight calls did not finish in time; cancelling them', deadlineMs: 100 }),
    ]);
  });
});

describe('cancellation', () => {
  it("a client's cancel of a unary call aborts the handler's signal", async () => {
    const entered = Promise.withResolvers<void>();
    let seen: Promise<'aborted'> | undefined;
    const { echo } = await startEcho({
      async call(request, context) {
        seen = abortSeenBy(context);
        entered.resolve();
        await seen;
        return request;
      },
    });
    const controller = new AbortController();
    const call = echo.call({ text: 'cancel me' }, { signal: controller.signal });
    await entered.promise;
    controller.abort();
    await expect(call).rejects.toSatisfy(isAbortError);
    expect(await seen).toBe('aborted');
  });

  it("a client's cancel of a server stream aborts the handler's signal", async () => {
    let seen: Promise<'aborted'> | undefined;
    const { echo } = await startEcho({
      async *stream(request, context) {
        seen = abortSeenBy(context);
        yield request;
        await seen;
      },
    });
    const controller = new AbortController();
    const received: EchoMessage[] = [];
    const reading = (async () => {
      for await (const message of echo.stream({ text: 'first' }, { signal: controller.signal })) {
        received.push(message);
        controller.abort();
      }
    })();
    await expect(reading).rejects.toSatisfy(isAbortError);
    expect(received).toEqual([{ text: 'first' }]);
    expect(await seen).toBe('aborted');
  });
});

describe('reflection', () => {
  it('is refused without authenticate: it would describe the API to any caller', async () => {
    await expect(
      startGrpcServer({ listenAddr: '127.0.0.1:0', logger: capturedLogs().logger, reflection: true, register: () => {} }),
    ).rejects.toThrow('reflection needs authenticate: it would describe the API to any caller');
  });
});
