import { isAbortError } from 'abort-controller-x';
import { ServerError, Status } from 'nice-grpc';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clientErrorKind, isTransient } from './client-errors.js';
import { connect, type ServiceClient } from './client.js';
import { withRetry, type RetryOptions } from './retry.js';
import { startGrpcServer, type RunningGrpcServer } from './server.js';
import { EchoDefinition } from './testing/echo-service.js';

// The server fails the next calls with these codes, one each, then answers.
const failures: Status[] = [];
let calls = 0;
let server: RunningGrpcServer;
let echo: ServiceClient<typeof EchoDefinition>;

beforeAll(async () => {
  server = await startGrpcServer({
    listenAddr: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    register: (s) =>
      s.add(EchoDefinition, {
        async call(request) {
          calls++;
          const code = failures.shift();
          if (code !== undefined) throw new ServerError(code, `failed with ${Status[code]} on purpose`);
          return request;
        },
        async *stream() {},
      }),
  });
  echo = connect(EchoDefinition, server.address);
});

beforeEach(() => {
  failures.length = 0;
  calls = 0;
});

afterAll(async () => {
  echo?.close();
  await server?.shutdown(1_000);
});

interface Retry {
  attempt: number;
  delayMs: number;
  kind: string;
}

/** Calls Echo through withRetry (backoff of 1 ms unless asked otherwise), recording each retry. */
async function callWithRetry(options: Partial<RetryOptions> = {}) {
  const retries: Retry[] = [];
  const result = withRetry(() => echo.client.call({ text: 'hi' }), {
    signal: new AbortController().signal,
    initialDelayMs: 1,
    maxDelayMs: 1,
    ...options,
    onRetry: (err, attempt, delayMs) => {
      retries.push({ attempt, delayMs, kind: clientErrorKind(err) });
      options.onRetry?.(err, attempt, delayMs);
    },
  });
  const outcome = await result.then(
    (value) => ({ value }),
    (err: unknown) => ({ kind: clientErrorKind(err), err }),
  );
  return { outcome, retries };
}

describe('withRetry', () => {
  it('retries UNAVAILABLE and DEADLINE_EXCEEDED by default until the call succeeds', async () => {
    failures.push(Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED);
    const { outcome, retries } = await callWithRetry();
    expect(outcome).toEqual({ value: { text: 'hi' } });
    expect(calls).toBe(3);
    expect(retries.map((r) => [r.attempt, r.kind])).toEqual([
      [1, 'unavailable'],
      [2, 'timeout'],
    ]);
  });

  it.each([
    ['NOT_FOUND', Status.NOT_FOUND, 'not-found'],
    ['INVALID_ARGUMENT', Status.INVALID_ARGUMENT, 'invalid'],
    ['CANCELLED', Status.CANCELLED, 'cancelled'],
    ['INTERNAL', Status.INTERNAL, 'internal'],
  ])('does not retry %s by default: one call, the error as it came', async (_, code, kind) => {
    failures.push(code, code);
    const { outcome, retries } = await callWithRetry();
    expect(outcome).toMatchObject({ kind });
    expect(calls).toBe(1);
    expect(retries).toEqual([]);
  });

  it('retries what `retryable` accepts, and only that', async () => {
    failures.push(Status.CANCELLED, Status.ABORTED, Status.NOT_FOUND, Status.UNAVAILABLE);
    const { outcome, retries } = await callWithRetry({ retryable: isTransient });
    expect(outcome).toMatchObject({ kind: 'not-found' });
    expect(calls).toBe(3);
    expect(retries.map((r) => r.kind)).toEqual(['cancelled', 'aborted']);
  });

  it('gives up after maxAttempts with the last error', async () => {
    failures.push(...Array<Status>(5).fill(Status.UNAVAILABLE));
    const { outcome, retries } = await callWithRetry({ maxAttempts: 3 });
    expect(outcome).toMatchObject({ kind: 'unavailable' });
    expect(calls).toBe(3);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
  });

  it('stops waiting and rejects with the abort when its signal aborts during a backoff', async () => {
    failures.push(Status.UNAVAILABLE, Status.UNAVAILABLE);
    const controller = new AbortController();
    const retried = withRetry(() => echo.client.call({ text: 'hi' }), {
      signal: controller.signal,
      // Far longer than any test: only the abort can end this wait.
      initialDelayMs: 3_600_000,
      maxDelayMs: 3_600_000,
      onRetry: () => controller.abort(),
    });
    await expect(retried).rejects.toSatisfy(isAbortError);
    expect(calls).toBe(1);
  });

  it('does not retry once its signal has aborted: the error is thrown as it came', async () => {
    failures.push(Status.UNAVAILABLE);
    const controller = new AbortController();
    const retried = withRetry(
      () => {
        const call = echo.client.call({ text: 'hi' });
        controller.abort();
        return call;
      },
      { signal: controller.signal, initialDelayMs: 1 },
    );
    await expect(retried).rejects.toSatisfy((err) => clientErrorKind(err) === 'unavailable');
    expect(calls).toBe(1);
  });

  it('doubles its backoff from initialDelayMs up to maxDelayMs, each wait jittered within its upper half', async () => {
    failures.push(...Array<Status>(6).fill(Status.UNAVAILABLE));
    const { outcome, retries } = await callWithRetry({ initialDelayMs: 4, maxDelayMs: 16 });
    expect(outcome).toEqual({ value: { text: 'hi' } });
    const ceilings = [4, 8, 16, 16, 16, 16];
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
    retries.forEach((r, i) => {
      expect(r.delayMs).toBeGreaterThanOrEqual(ceilings[i]! / 2);
      expect(r.delayMs).toBeLessThanOrEqual(ceilings[i]!);
    });
  });
});
