import {
  StorageServiceDefinition,
  TaskServiceDefinition,
  type StorageServiceImplementation,
  type TaskServiceImplementation,
} from '@cloudai/proto';
import { sendingRawRequests, UNSAFE_INTEGER } from '@cloudai/testing';
import { ClientError, Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from './client.js';
import { unauthenticated } from './errors.js';
import { startGrpcServer, type RunningGrpcServer } from './server.js';
import { capturedLogs } from './testing/captured-logs.js';

// The generated decoders throw on bytes that are not the request (and on any
// 64-bit integer beyond 2^53 - 1); grpc-js would answer INTERNAL naming
// nothing. The server refuses such a request as INVALID_ARGUMENT, saying
// what is wrong, after authenticating the caller and before any handler.

const { logger, lines } = capturedLogs();
let server: RunningGrpcServer;
/** requests each handler was called with */
const handled: unknown[] = [];
const as = (token: string) => ({ bearer: () => token });

beforeAll(async () => {
  server = await startGrpcServer({
    listenAddr: '127.0.0.1:0',
    logger,
    authenticate: async (_method, context) => {
      if (context.metadata.get('authorization') !== 'Bearer good') throw unauthenticated('no good');
      return {};
    },
    register: (s) => {
      s.add(
        TaskServiceDefinition,
        only<TaskServiceImplementation>(TaskServiceDefinition, {
          async getTask(request) {
            handled.push(request);
            return {};
          },
          async *streamLogs(request) {
            handled.push(request);
            yield* [];
          },
        }),
      );
      s.add(
        StorageServiceDefinition,
        only<StorageServiceImplementation>(StorageServiceDefinition, {
          async uploadOutputs(requests) {
            for await (const request of requests) handled.push(request);
            return { files: [], totalBytes: 0 };
          },
        }),
      );
    },
  });
});

afterAll(async () => {
  await server?.shutdown(1_000);
});

/** `handlers`, and every other method of `definition` failing (none is called here). */
function only<I>(definition: { methods: object }, handlers: Partial<I>): I {
  const unused = Object.fromEntries(Object.keys(definition.methods).map((m) => [m, () => Promise.reject(new Error(`${m} is not in this test`))]));
  return { ...unused, ...handlers } as I;
}

async function refusal(call: Promise<unknown>): Promise<{ code: string; details: string }> {
  const err = await call.then(
    () => expect.fail('the call succeeded'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClientError);
  return { code: Status[(err as ClientError).code], details: (err as ClientError).details };
}

/** Protobuf: field 1, length-delimited, with a length running past the end. */
const NOT_PROTOBUF = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);

describe('requests that cannot be decoded', () => {
  let tasks: ReturnType<typeof connect<typeof TaskServiceDefinition>>;
  beforeAll(() => {
    tasks = connect(sendingRawRequests(TaskServiceDefinition), server.address, as('good'));
  });
  afterAll(() => tasks.close());

  it('are INVALID_ARGUMENT naming the message type, and reach no handler', async () => {
    expect(await refusal(tasks.client.getTask(NOT_PROTOBUF as never))).toEqual({
      code: 'INVALID_ARGUMENT',
      details: expect.stringMatching(/^the request is not a valid cloudai\.v1\.GetTaskRequest: /),
    });
    expect(handled).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('name the field of a 64-bit integer beyond 2^53 - 1, in a server stream too', async () => {
    const request = { taskId: 't', afterPosition: UNSAFE_INTEGER, follow: false, streams: [], tailLines: 0 };
    const drained = (async () => {
      for await (const _ of tasks.client.streamLogs(request));
    })();
    expect(await refusal(drained)).toEqual({
      code: 'INVALID_ARGUMENT',
      details: `after_position is ${UNSAFE_INTEGER}, beyond ±(2^53 - 1): such integers are not accepted`,
    });
    expect(handled).toEqual([]);
  });

  it('are refused in a client stream at the message that cannot be decoded', async () => {
    const c = connect(sendingRawRequests(StorageServiceDefinition), server.address, as('good'));
    async function* messages() {
      yield { data: Buffer.from('fine') };
      yield NOT_PROTOBUF as never;
    }
    try {
      expect(await refusal(c.client.uploadOutputs(messages()))).toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: expect.stringContaining('cloudai.v1.UploadOutputsRequest'),
      });
      expect(handled).toEqual([{ data: Buffer.from('fine') }]);
    } finally {
      handled.length = 0;
      c.close();
    }
  });

  it('from a caller who is not authenticated are refused as that first', async () => {
    const c = connect(sendingRawRequests(TaskServiceDefinition), server.address, as('bad'));
    try {
      expect((await refusal(c.client.getTask(NOT_PROTOBUF as never))).code).toBe('UNAUTHENTICATED');
    } finally {
      c.close();
    }
  });
});
