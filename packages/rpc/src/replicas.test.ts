import type { MethodDefinition } from 'nice-grpc';
import { ServerError, Status } from 'nice-grpc';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { clientErrorKind } from './client-errors.js';
import { connectReplicas, type ReplicaClient } from './replicas.js';
import { startGrpcServer, type RunningGrpcServer } from './server.js';
import { EchoDefinition, type EchoMessage } from './testing/echo-service.js';

// Echo plus a client stream (an upload's shape): the texts received, joined.
const serialize = (value: EchoMessage) => Buffer.from(JSON.stringify(value));
const deserialize = (bytes: Uint8Array) => JSON.parse(Buffer.from(bytes).toString()) as EchoMessage;
const collect: MethodDefinition<EchoMessage, EchoMessage, EchoMessage, EchoMessage, true, false> = {
  path: '/cloudai.test.Echo/Collect',
  requestStream: true,
  responseStream: false,
  requestSerialize: serialize,
  requestDeserialize: deserialize,
  responseSerialize: serialize,
  responseDeserialize: deserialize,
  options: {},
};
const Definition = { ...EchoDefinition, collect };

/** A replica that answers with its name, failing the next calls with the codes queued in `failures`. */
interface Replica {
  name: string;
  server: RunningGrpcServer;
  calls: number;
  failures: Status[];
  /** a stream that sends one message and then fails with this */
  cutStreamWith?: Status;
}

const running: Replica[] = [];
const clients: ReplicaClient<typeof Definition>[] = [];

async function replica(name: string): Promise<Replica> {
  const r = { name, calls: 0, failures: [] as Status[] } as Replica;
  const fail = () => {
    r.calls++;
    const code = r.failures.shift();
    if (code !== undefined) throw new ServerError(code, `${name} failed with ${Status[code]} on purpose`);
  };
  r.server = await startGrpcServer({
    listenAddr: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    register: (s) =>
      s.add(Definition, {
        async call(request) {
          fail();
          return { text: `${request.text}@${name}` };
        },
        async *stream(request) {
          fail();
          for (let i = 0; i < 3; i++) {
            yield { text: `${request.text}${i}@${name}` };
            if (r.cutStreamWith !== undefined) throw new ServerError(r.cutStreamWith, `${name} cut the stream on purpose`);
          }
        },
        async collect(requests) {
          fail();
          const texts: string[] = [];
          for await (const m of requests) texts.push(m.text);
          return { text: `${texts.join('+')}@${name}` };
        },
      }),
  });
  running.push(r);
  return r;
}

function client(addresses: string[], down: string[] = []) {
  const c = connectReplicas(Definition, addresses, { downForMs: 60_000, onDown: (address) => down.push(address) });
  clients.push(c);
  return c;
}

async function* texts(...values: string[]) {
  for (const text of values) yield { text };
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(running.splice(0).map((r) => r.server.shutdown(1_000)));
});

describe('connectReplicas', () => {
  it('spreads calls over the replicas in turn', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    const c = client([a.server.address, b.server.address]);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await c.client.call({ text: 'hi' })).text);
    expect(answers.sort()).toEqual(['hi@a', 'hi@a', 'hi@b', 'hi@b']);
  });

  it('sends a unary call to the next replica when one is unreachable, and passes it over afterwards', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    const down: string[] = [];
    const c = client([a.server.address, b.server.address], down);
    await a.server.shutdown(1_000);
    for (let i = 0; i < 4; i++) expect((await c.client.call({ text: 'hi' })).text).toBe('hi@b');
    // Tried once, then skipped while it is marked down.
    expect(down).toEqual([a.server.address]);
    expect(b.calls).toBe(4);
  });

  it('fails over on UNAVAILABLE only: any other answer is the caller\'s', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    a.failures.push(Status.NOT_FOUND);
    b.failures.push(Status.NOT_FOUND);
    const c = client([a.server.address, b.server.address]);
    const err = await c.client.call({ text: 'hi' }).catch((e: unknown) => e);
    expect(clientErrorKind(err)).toBe('not-found');
    expect(a.calls + b.calls).toBe(1);
  });

  it('throws the last UNAVAILABLE when every replica is unreachable', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    a.failures.push(Status.UNAVAILABLE);
    b.failures.push(Status.UNAVAILABLE);
    const down: string[] = [];
    const c = client([a.server.address, b.server.address], down);
    const err = await c.client.call({ text: 'hi' }).catch((e: unknown) => e);
    expect(clientErrorKind(err)).toBe('unavailable');
    expect(down.sort()).toEqual([a.server.address, b.server.address].sort());
    // Both down: the next call still tries them (soonest back first) rather than failing without a try.
    expect((await c.client.call({ text: 'again' })).text).toMatch(/^again@[ab]$/);
  });

  it('moves a server stream to the next replica when the first failed before sending anything', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    // A new client asks the first address first.
    a.failures.push(Status.UNAVAILABLE);
    const c = client([a.server.address, b.server.address]);
    const got = [];
    for await (const m of c.client.stream({ text: 'n' })) got.push(m.text);
    expect(got).toEqual(['n0@b', 'n1@b', 'n2@b']);
    expect([a.calls, b.calls]).toEqual([1, 1]);
  });

  it('does not replay a server stream cut midway: the caller resumes it', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    a.cutStreamWith = Status.UNAVAILABLE;
    b.cutStreamWith = Status.UNAVAILABLE;
    const c = client([a.server.address, b.server.address]);
    const got: string[] = [];
    const err = await (async () => {
      for await (const m of c.client.stream({ text: 'n' })) got.push(m.text);
    })().catch((e: unknown) => e);
    expect(clientErrorKind(err)).toBe('unavailable');
    expect(got).toHaveLength(1);
    expect(a.calls + b.calls).toBe(1);
  });

  it('throws an unreachable client stream to the caller, whose retry goes to the next replica', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    const down: string[] = [];
    const c = client([a.server.address, b.server.address], down);
    await a.server.shutdown(1_000);
    const answers: string[] = [];
    const errors: string[] = [];
    for (let i = 0; i < 3; i++) {
      await c.client.collect(texts('x', 'y')).then(
        (r) => answers.push(r.text),
        (e: unknown) => errors.push(clientErrorKind(e)),
      );
    }
    // At most the one call that met `a` first fails; every other goes to `b`.
    expect(errors.length).toBeLessThanOrEqual(1);
    expect(errors.every((k) => k === 'unavailable')).toBe(true);
    expect(answers).toEqual(Array(3 - errors.length).fill('x+y@b'));
    expect(down).toEqual(errors.length ? [a.server.address] : []);
  });
});
