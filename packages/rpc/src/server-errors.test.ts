import { AbortError } from 'abort-controller-x';
import { ClientError, ServerError, Status } from 'nice-grpc';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type ServiceClient } from './client.js';
import { DomainError, invalidArgument, notFound } from './errors.js';
import { startGrpcServer, type RunningGrpcServer } from './server.js';
import { capturedLogs } from './testing/captured-logs.js';
import { EchoDefinition } from './testing/echo-service.js';

// What the Echo handler throws next; each test sets it.
let failure: unknown;
const { logger, lines } = capturedLogs();
let server: RunningGrpcServer;
let echo: ServiceClient<typeof EchoDefinition>;

beforeAll(async () => {
  server = await startGrpcServer({
    listenAddr: '127.0.0.1:0',
    logger,
    register: (s) =>
      s.add(EchoDefinition, {
        async call() {
          throw failure;
        },
        async *stream(request) {
          yield request;
          throw failure;
        },
      }),
  });
  echo = connect(EchoDefinition, server.address);
});

afterEach(() => {
  lines.length = 0;
});

afterAll(async () => {
  echo?.close();
  await server?.shutdown(1_000);
});

/** How the client saw the call end: a ClientError's code and details. */
async function outcomeOf(call: Promise<unknown>): Promise<{ code: string; details: string }> {
  const err = await call.then(
    () => expect.fail('the call succeeded'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClientError);
  const { code, details } = err as ClientError;
  return { code: Status[code], details };
}

async function streamed(): Promise<unknown> {
  for await (const _ of echo.client.stream({ text: 'hi' }));
  return undefined;
}

describe('error mapping', () => {
  it.each([
    ['a DomainError', notFound('task t-1 not found'), { code: 'NOT_FOUND', details: 'task t-1 not found' }],
    [
      'a DomainError of any status',
      new DomainError(Status.RESOURCE_EXHAUSTED, 'outputs exceed the quota of 10 files'),
      { code: 'RESOURCE_EXHAUSTED', details: 'outputs exceed the quota of 10 files' },
    ],
    [
      'a ServerError, as it is',
      new ServerError(Status.PERMISSION_DENIED, 'only admins may drain workers'),
      { code: 'PERMISSION_DENIED', details: 'only admins may drain workers' },
    ],
  ])('answers %s with its status and message, logging nothing', async (_, thrown, expected) => {
    failure = thrown;
    expect(await outcomeOf(echo.client.call({ text: 'hi' }))).toEqual(expected);
    expect(await outcomeOf(streamed())).toEqual(expected);
    expect(lines).toEqual([]);
  });

  it('answers anything else with INTERNAL that names the method, and logs it whole', async () => {
    failure = new TypeError("Cannot read properties of undefined (reading 'secret')");
    const expected = { code: 'INTERNAL', details: 'internal error in /cloudai.test.Echo/Call; see the server log' };
    expect(await outcomeOf(echo.client.call({ text: 'hi' }))).toEqual(expected);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        msg: 'unhandled error in RPC handler',
        method: '/cloudai.test.Echo/Call',
        err: expect.objectContaining({
          type: 'TypeError',
          message: "Cannot read properties of undefined (reading 'secret')",
          stack: expect.stringContaining('TypeError'),
        }),
      }),
    ]);
  });

  it('cuts a message quoting a huge input, so the reply cannot break the connection it shares', async () => {
    // Uncut, the megabyte travels in a trailer past the client's header
    // limit: the client tears the connection down and every later call on it fails.
    failure = invalidArgument(`user_name must be short, got ${'x'.repeat(1024 * 1024)}`);
    const cut = await outcomeOf(echo.client.call({ text: 'hi' }));
    expect(cut.code).toBe('INVALID_ARGUMENT');
    expect(cut.details).toMatch(/^user_name must be short, got x+… \(cut\)$/);
    expect(cut.details.length).toBeLessThanOrEqual(2010);
    failure = notFound('task t-1 not found');
    expect(await outcomeOf(echo.client.call({ text: 'hi' }))).toEqual({ code: 'NOT_FOUND', details: 'task t-1 not found' });
  });

  it('passes an abort through as CANCELLED, logging nothing', async () => {
    failure = new AbortError();
    expect((await outcomeOf(echo.client.call({ text: 'hi' }))).code).toBe('CANCELLED');
    expect(lines).toEqual([]);
  });
});
