import {
  EventServiceDefinition,
  IdentityServiceDefinition,
  TaskServiceDefinition,
  TaskStatus,
  type EventServiceImplementation,
  type IdentityServiceImplementation,
  type Task,
  type TaskServiceImplementation,
} from '@cloudai/proto';
import { serverCredentials, type ServerTls } from '@cloudai/rpc';
import { createServer, ServerError, Status, type CallContext } from 'nice-grpc';

// A stand-in for the master: a real nice-grpc server on 127.0.0.1:0 that
// serves TaskService, IdentityService and EventService, records every request with the
// credential it carried, and answers from handlers each test sets. The CLI
// under test cannot tell it from the real thing at the wire level.

/** A well-formed token (cai_<16-character id>_<43-character secret>) the tests log in with. */
export const TEST_TOKEN = `cai_${'0123456789abcdef'}_${'S'.repeat(43)}`;

/** The `authorization` metadata a call made with `token` carries. */
export function bearer(token = TEST_TOKEN): string {
  return `Bearer ${token}`;
}

type Implementation = TaskServiceImplementation & IdentityServiceImplementation & EventServiceImplementation;
type Method = keyof Implementation;
type Streaming = 'streamLogs' | 'downloadFiles' | 'followEvents';
type Unary = Exclude<Method, Streaming>;
/** Server-streaming handlers are async generators; throwing a ServerError mid-way ends the call with that status. */
type Handlers = { [K in Method]?: Implementation[K] };

export interface RecordedCall {
  method: Method;
  request: unknown;
  /** the `authorization` metadata the CLI sent ("Bearer cai_…") */
  authorization: string | undefined;
  /** every metadata key the call carried */
  metadataKeys: string[];
}

export interface FakeMaster {
  /** `127.0.0.1:<port>`; known once listen() has resolved */
  readonly address: string;
  readonly calls: RecordedCall[];
  /** replaces every handler; methods without one answer UNIMPLEMENTED */
  setHandlers(handlers: Handlers): void;
  callsTo(method: Method): RecordedCall[];
  listen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A fake master that does not listen yet, so a test file can hold it before
 * its hooks run. With `tls`, it serves TLS (and with `tls.clientCa` requires
 * client certificates), as a master with TLS_* set does.
 */
export function createFakeMaster(tls?: ServerTls): FakeMaster {
  const calls: RecordedCall[] = [];
  let handlers: Handlers = {};

  const record = (method: Method, request: unknown, context: CallContext) => {
    calls.push({
      method,
      request,
      authorization: context.metadata.get('authorization'),
      metadataKeys: [...context.metadata].map(([key]) => key),
    });
  };
  const unary =
    <K extends Unary>(method: K) =>
    async (request: Parameters<Implementation[K]>[0], context: CallContext) => {
      record(method, request, context);
      const handler = handlers[method] as ((req: typeof request, ctx: CallContext) => Promise<unknown>) | undefined;
      if (!handler) throw new ServerError(Status.UNIMPLEMENTED, `${method} is not implemented by this fake`);
      return handler(request, context);
    };

  const streaming = <K extends Streaming>(method: K) =>
    async function* (request: Parameters<Implementation[K]>[0], context: CallContext) {
      record(method, request, context);
      const handler = handlers[method] as
        | ((req: typeof request, ctx: CallContext) => AsyncIterable<unknown>)
        | undefined;
      if (!handler) throw new ServerError(Status.UNIMPLEMENTED, `${method} is not implemented by this fake`);
      yield* handler(request, context);
    };

  const tasks = {
    submitTask: unary('submitTask'),
    dispatchTask: unary('dispatchTask'),
    getTask: unary('getTask'),
    listTasks: unary('listTasks'),
    cancelTask: unary('cancelTask'),
    listWorkers: unary('listWorkers'),
    drainWorker: unary('drainWorker'),
    listFiles: unary('listFiles'),
    deleteFiles: unary('deleteFiles'),
    getLogLineIndex: unary('getLogLineIndex'),
    streamLogs: streaming('streamLogs'),
    downloadFiles: streaming('downloadFiles'),
  } as unknown as TaskServiceImplementation;
  const identity = {
    whoAmI: unary('whoAmI'),
    createUser: unary('createUser'),
    listUsers: unary('listUsers'),
    setUserDisabled: unary('setUserDisabled'),
    createToken: unary('createToken'),
    listTokens: unary('listTokens'),
    revokeToken: unary('revokeToken'),
    getVersion: unary('getVersion'),
  } as unknown as IdentityServiceImplementation;

  const events = {
    listEvents: unary('listEvents'),
    followEvents: streaming('followEvents'),
  } as unknown as EventServiceImplementation;

  const server = createServer();
  server.add(TaskServiceDefinition, tasks);
  server.add(IdentityServiceDefinition, identity);
  server.add(EventServiceDefinition, events);
  let port: number | undefined;

  return {
    get address() {
      if (port === undefined) throw new Error('the fake master is not listening yet: await listen() first');
      return `127.0.0.1:${port}`;
    },
    calls,
    setHandlers(next) {
      handlers = next;
      calls.length = 0;
    },
    callsTo: (method) => calls.filter((c) => c.method === method),
    async listen() {
      port = await server.listen('127.0.0.1:0', serverCredentials(tls));
    },
    close: async () => {
      server.forceShutdown();
    },
  };
}

/** A fake master already listening (see createFakeMaster). */
export async function startFakeMaster(tls?: ServerTls): Promise<FakeMaster> {
  const master = createFakeMaster(tls);
  await master.listen();
  return master;
}

/** A handler that fails every call with `status`, the way the master answers an expected failure. */
export function failWith(status: Status, message: string): () => Promise<never> {
  return async () => {
    throw new ServerError(status, message);
  };
}

/** A task as the master would return it; fields default to a freshly queued alpine task. */
export function makeTask(overrides: Partial<Task> = {}): Task {
  return {
    taskId: '01890a5d-ac96-774b-bcce-b302099a8057',
    taskName: 'alpine-1704067200',
    userId: 'alice',
    spec: {
      image: 'alpine:3.20',
      command: ['sh', '-c', 'echo hi'],
      env: {},
      resources: { cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0 },
      taskName: '',
      timeoutSeconds: 0,
      network: false,
    },
    status: TaskStatus.TASK_STATUS_QUEUED,
    reason: '',
    attempt: 0,
    assignmentId: '',
    workerId: '',
    pinnedWorkerId: '',
    exitCode: undefined,
    submittedAt: new Date('2025-01-01T12:00:00Z'),
    scheduledAt: undefined,
    startedAt: undefined,
    finishedAt: undefined,
    outputFiles: [],
    outputBytes: 0,
    logBytes: 0,
    ...overrides,
  };
}
