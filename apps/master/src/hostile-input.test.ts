import { join } from 'node:path';
import { issueWorkerCredential } from '@cloudai/auth';
import {
  ClusterServiceDefinition,
  IdentityServiceDefinition,
  LogStream,
  Role,
  SchedulerServiceDefinition,
  StorageServiceDefinition,
  TaskServiceDefinition,
  TaskStatus,
  type AppendLogsRequest,
  type CompleteTaskRequest,
  type CreateUserResponse,
  type DownloadFilesRequest,
  type GetSnapshotRequest,
  type HeartbeatRequest,
  type ListTasksRequest,
  type LogChunk,
  type OutputFile,
  type Placement,
  type RegisterWorkerRequest,
  type ReportTaskStatusRequest,
  type StorageServiceImplementation,
  type StreamLogsRequest,
  type SubmitTaskResponse,
  type TaskSpec,
  type Unplaced,
} from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { openSqliteStore, type Store } from '@cloudai/store';
import {
  camelOf,
  drain,
  HOSTILE,
  idCases,
  enumCases,
  judge,
  numberCases,
  refused,
  rpcRows,
  sendingRawRequests,
  textCases,
  timeCases,
  TOO_BIG,
  uint64Cases,
  UINT32_MAX,
  unknownFieldMessage,
  type Expectation,
  type HostileCase,
  type HostileRow,
} from '@cloudai/testing';
import { createServer, ServerError, Status, type Server, type TsProtoServiceDefinition } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completion, FakeWorker, getTask, spec, startMaster, startRunning, submit, type TestMaster } from './testing/harness.js';

// Every RPC of every master service, sent what a scanner sends, by a caller
// the API accepts, so that the input and not authentication is what is
// judged. A refusal must be INVALID_ARGUMENT naming the field (or
// RESOURCE_EXHAUSTED for a message over the 8 MiB limit); afterwards the
// master still serves another caller and nothing was stored.

const MiB = 1024 * 1024;
/** A well-formed task id that names no task: NOT_FOUND, exactly as another user's task would answer. */
const NO_SUCH_TASK = '0190a000-0000-7000-8000-00000000dead';
const UNKNOWN_TASK = { value: NO_SUCH_TASK, expect: { code: 'NOT_FOUND', naming: `task ${NO_SUCH_TASK} not found` } } as const;

let m: TestMaster;
let store: Store;
let storage: StorageStandIn;
let w1: FakeWorker;
/** a QUEUED task of user `default` */
let queued: string;
/** a RUNNING task on w1, and its assignment */
let running: { taskId: string; assignmentId: string };
const closers: (() => unknown)[] = [];

/** Clients that may send up to 256 MiB and raw bytes, so that the server, not the client, refuses. */
function clientsOf(m: TestMaster) {
  const open = <D extends TsProtoServiceDefinition>(definition: D, bearer: string) => {
    const c = connect(sendingRawRequests(definition), m.master.address, {
      bearer: () => bearer,
      maxMessageBytes: 256 * MiB,
      defaultDeadlineMs: 60_000,
    });
    closers.push(() => c.close());
    return c.client;
  };
  const credential = issueWorkerCredential(m.signingKey, 'w1');
  return {
    /** as user `default` */
    tasks: open(TaskServiceDefinition, m.tokens.default),
    /** as the admin */
    identity: open(IdentityServiceDefinition, m.tokens.admin),
    /** RegisterWorker takes the join secret */
    joining: open(ClusterServiceDefinition, m.joinSecret),
    /** as worker w1 */
    worker: open(ClusterServiceDefinition, credential),
    scheduler: open(SchedulerServiceDefinition, m.joinSecret),
  };
}
let c: ReturnType<typeof clientsOf>;

beforeAll(async () => {
  storage = await StorageStandIn.start();
  // No liveness sweep during the run: w1 heartbeats only when a row says so.
  m = await startMaster({ WORKER_TTL_MS: '600000', CLOUDAI_STORAGE: storage.address });
  c = clientsOf(m);
  w1 = await FakeWorker.start('w1');
  await w1.register(m);
  queued = (await submit(m)).taskId;
  const t = await submit(m);
  running = { taskId: t.taskId, assignmentId: await startRunning(m, w1, t.taskId) };
  store = await openSqliteStore(join(m.dataDir.path, 'master', 'cloudai.db'));
});

afterAll(async () => {
  for (const close of closers) close();
  await store?.close();
  await w1?.stop();
  await m?.close();
  await storage?.stop();
});

/** Everything a rejected request could have written; last-used times of tokens change on their own. */
async function stored() {
  return {
    tasks: await store.listTasks({ limit: 100_000 }),
    workers: await store.listWorkers(),
    users: await store.listUsers(),
    tokens: (await store.listTokens()).map(({ lastUsedAt: _, ...t }) => t),
    logs: await store.readLogChunks(running.taskId, { afterPosition: 0, limit: 100_000 }),
    result: await store.getResult(running.taskId),
  };
}

/** Another user, a scheduler and the worker are all still served. */
async function othersServed(): Promise<void> {
  await m.tasks.listTasks({ statuses: [], taskName: '', limit: 1, pageToken: '' }, m.as('alice'));
  await m.scheduler2.getSnapshot({ maxTasks: 1, afterGeneration: 0, waitMs: 0 });
  await m.cluster.heartbeat({ workerId: 'w1', running: [running] }).then(() => undefined);
}

// ---- TaskService ----------------------------------------------------------

const validSpec = (): TaskSpec => spec({ resources: { cpu: 1, memoryGb: 1, storageGb: 1, gpu: 0 } });
type SpecRequest = { spec: TaskSpec; idempotencyKey: string };

function submitWith(patch: (r: SpecRequest) => void) {
  const request = { spec: validSpec(), idempotencyKey: '' };
  patch(request);
  return c.tasks.submitTask(request);
}

/** An accepted submission keeps the value exactly as sent. */
const keptAs = (why: string, pick: (spec: TaskSpec) => unknown, wrap: (sent: string) => unknown = (sent) => sent) => ({
  accepted: why,
  check: async (result: unknown, sent: string) => {
    expect(pick((result as SubmitTaskResponse).task!.spec!)).toEqual(wrap(sent));
  },
});

const specCases = (send: (patch: (r: SpecRequest) => void) => Promise<unknown>): HostileCase[] => [
  { input: 'spec missing', send: () => send((r) => void ((r as Partial<SpecRequest>).spec = undefined)), expect: refused('spec') },
  ...textCases('spec.image', (v) => send((r) => void (r.spec.image = v)), { naming: 'image', required: true }),
  ...textCases('spec.command[0]', (v) => send((r) => void (r.spec.command = [v])), {
    naming: 'command',
    controls: keptAs('argv may hold any byte but NUL: sh -c scripts hold newlines and escapes', (s) => s.command, (v) => [v]),
  }),
  { input: 'spec.command of 4097 arguments', send: () => send((r) => void (r.spec.command = Array<string>(4097).fill('x'))), expect: refused('command') },
  ...textCases('spec.env key', (v) => send((r) => void (r.spec.env = { [v]: 'x' })), { naming: 'env', required: true }),
  { input: 'spec.env key "1X"', send: () => send((r) => void (r.spec.env = { '1X': 'x' })), expect: refused('env') },
  ...textCases('spec.env value', (v) => send((r) => void (r.spec.env = { K: v })), {
    naming: 'env',
    controls: keptAs('values may hold any byte but NUL (a PEM holds newlines), and reach only the container', (s) => s.env.K),
  }),
  ...(['cpu', 'memory_gb', 'storage_gb', 'gpu'] as const).flatMap((dim) =>
    numberCases(
      `spec.resources.${dim}`,
      (v) => send((r) => void (r.spec.resources = { ...r.spec.resources, [camelOf(dim)]: v })),
      { naming: `resources.${dim}`, whole: dim === 'gpu' },
    ),
  ),
  ...textCases('spec.task_name', (v) => send((r) => void (r.spec.taskName = v)), { naming: 'task_name' }),
  { input: 'spec.timeout_seconds = 2^32 - 1', send: () => send((r) => void (r.spec.timeoutSeconds = UINT32_MAX)), expect: refused('timeout_seconds') },
];

const submitRows = rpcRows('TaskService.SubmitTask', [
  ...specCases(submitWith),
  ...textCases('idempotency_key', (v) => submitWith((r) => void (r.idempotencyKey = v))),
]);

const dispatchWith = (workerId: string, patch: (r: SpecRequest) => void = () => {}) => {
  const request = { workerId, spec: validSpec(), idempotencyKey: '' };
  patch(request);
  return c.tasks.dispatchTask(request);
};
const UNKNOWN_WORKER = { value: 'w-none', expect: { code: 'NOT_FOUND', naming: 'w-none' } } as const;
const dispatchRows = rpcRows('TaskService.DispatchTask', [
  ...idCases('worker_id', (v) => dispatchWith(v), { maxLength: 64, unknown: UNKNOWN_WORKER }),
  ...specCases((patch) => dispatchWith('w1', patch)),
  ...textCases('idempotency_key', (v) => dispatchWith('w1', (r) => void (r.idempotencyKey = v))),
]);

/** Task-id cases for an RPC whose other fields are valid; a well-formed id of nothing is NOT_FOUND. */
const taskIdCases = (send: (taskId: string) => Promise<unknown>) => idCases('task_id', send, { unknown: UNKNOWN_TASK });

const getRows = rpcRows('TaskService.GetTask', taskIdCases((taskId) => c.tasks.getTask({ taskId })));

const listWith = (patch: Partial<ListTasksRequest>) =>
  c.tasks.listTasks({ statuses: [], taskName: '', limit: 0, pageToken: '', allUsers: false, ...patch });
const listRows = rpcRows('TaskService.ListTasks', [
  ...enumCases('statuses[0]', (v) => listWith({ statuses: [v] })),
  ...textCases('task_name', (v) => listWith({ taskName: v })),
  ...timeCases('submitted_after', (v) => listWith({ submittedAfter: v })),
  ...timeCases('submitted_before', (v) => listWith({ submittedBefore: v })),
  { input: 'limit = 2^32 - 1', send: () => listWith({ limit: UINT32_MAX }), expect: refused('limit') },
  ...textCases('page_token', (v) => listWith({ pageToken: v })),
]);

const cancelRows = rpcRows('TaskService.CancelTask', [
  ...taskIdCases((taskId) => c.tasks.cancelTask({ taskId, reason: '' })),
  ...textCases('reason', (v) => c.tasks.cancelTask({ taskId: queued, reason: v })),
]);

/** For RPCs with nothing to fill: a message over the limit, carried as an unknown field. */
const tooBigMessage = (send: (message: never) => Promise<unknown>): HostileCase => ({
  input: 'a 10 MiB message (an unknown field)',
  send: () => send(unknownFieldMessage(10 * MiB) as never),
  expect: TOO_BIG,
});

const listWorkersRows = rpcRows('TaskService.ListWorkers', [tooBigMessage((r) => c.tasks.listWorkers(r))]);

const drainRows = rpcRows(
  'TaskService.DrainWorker',
  idCases('worker_id', (v) => c.tasks.drainWorker({ workerId: v, drain: true }, m.as('admin')), { maxLength: 64, unknown: UNKNOWN_WORKER }),
);

const logsWith = (patch: Partial<StreamLogsRequest>) =>
  drain(c.tasks.streamLogs({ taskId: running.taskId, afterPosition: 0, follow: false, streams: [], tailLines: 0, ...patch }));
const streamLogsRows = rpcRows('TaskService.StreamLogs', [
  ...taskIdCases((taskId) => logsWith({ taskId })),
  ...uint64Cases('after_position', (v) => logsWith({ afterPosition: v })),
  ...enumCases('streams[0]', (v) => logsWith({ streams: [v] })),
  { input: 'tail_lines = 2^32 - 1', send: () => logsWith({ tailLines: UINT32_MAX }), expect: refused('tail_lines') },
  ...timeCases('since', (v) => logsWith({ since: v })),
]);

const listFilesRows = rpcRows('TaskService.ListFiles', taskIdCases((taskId) => c.tasks.listFiles({ taskId })));

const downloadWith = (patch: Partial<DownloadFilesRequest>) => drain(c.tasks.downloadFiles({ taskId: running.taskId, path: '', ...patch }));
const downloadRows = rpcRows('TaskService.DownloadFiles', [
  ...taskIdCases((taskId) => downloadWith({ taskId })),
  ...textCases('path', (v) => downloadWith({ path: v }), {
    // A task may name its output files so; only storage knows whether one is.
    controls: { code: 'NOT_FOUND', naming: 'has no output file', why: 'relayed to storage, which has no such file' },
  }),
]);

const deleteRows = rpcRows('TaskService.DeleteFiles', taskIdCases((taskId) => c.tasks.deleteFiles({ taskId })));

// ---- IdentityService (as the admin, who may do everything) ----------------

const NO_SUCH_USER: Expectation = { code: 'NOT_FOUND', naming: 'user nobody does not exist' };

/** User-name cases; '' means the caller where `optional`; `nobody` is what a well-formed name of no user gets. */
const userNameCases = (
  send: (name: string) => Promise<unknown>,
  { optional = false, nobody = NO_SUCH_USER }: { optional?: boolean; nobody?: Expectation | null } = {},
) => idCases('user_name', send, { required: !optional, unknown: nobody ? { value: 'nobody', expect: nobody } : undefined });

const identityRows = [
  ...rpcRows('IdentityService.WhoAmI', [tooBigMessage((r) => c.identity.whoAmI(r))]),
  ...rpcRows('IdentityService.CreateUser', [
    ...userNameCases((v) => c.identity.createUser({ userName: v, role: Role.ROLE_USER }), { nobody: null }),
    ...enumCases('role', (v) => c.identity.createUser({ userName: `role${v + 10}`, role: v }), {
      unspecified: {
        accepted: 'the contract says unset means ROLE_USER',
        check: async (result) => expect((result as CreateUserResponse).user?.role).toBe(Role.ROLE_USER),
      },
    }),
  ]),
  ...rpcRows('IdentityService.ListUsers', [tooBigMessage((r) => c.identity.listUsers(r))]),
  ...rpcRows('IdentityService.SetUserDisabled', userNameCases((v) => c.identity.setUserDisabled({ userName: v, disabled: true }))),
  ...rpcRows('IdentityService.CreateToken', [
    ...userNameCases((v) => c.identity.createToken({ userName: v, description: '', expiresInSeconds: 0 }), { optional: true }),
    ...textCases('description', (v) => c.identity.createToken({ userName: '', description: v, expiresInSeconds: 0 })),
    {
      input: 'expires_in_seconds = 2^32 - 1',
      send: () => c.identity.createToken({ userName: '', description: '', expiresInSeconds: UINT32_MAX }),
      expect: refused('expires_in_seconds'),
    },
  ]),
  ...rpcRows(
    'IdentityService.ListTokens',
    userNameCases((v) => c.identity.listTokens({ userName: v, allUsers: false }), {
      optional: true,
      nobody: { accepted: 'nobody holds no tokens: the list is empty, as for a user without any' },
    }),
  ),
  ...rpcRows(
    'IdentityService.RevokeToken',
    idCases('token_id', (v) => c.identity.revokeToken({ tokenId: v }), {
      maxLength: 16,
      unknown: { value: 'aaaaaaaaaaaaaaaa', expect: { code: 'NOT_FOUND', naming: 'aaaaaaaaaaaaaaaa' } },
    }),
  ),
];

// ---- ClusterService (RegisterWorker with the join secret, the rest as w1) --

const registerWith = (patch: (r: RegisterWorkerRequest) => void) => {
  const request: RegisterWorkerRequest = {
    workerId: 'w1',
    address: w1.address,
    capacity: { cpu: 4, memoryGb: 16, storageGb: 100, gpu: 0 },
    running: [running],
    version: '0.0.0-test',
  };
  patch(request);
  return c.joining.registerWorker(request);
};

/** Malformed ids in the `running` list a worker reports. */
const runningCases = (send: (r: { taskId: string; assignmentId: string }) => Promise<unknown>) => [
  ...idCases('running[0].task_id', (v) => send({ ...running, taskId: v })),
  ...idCases('running[0].assignment_id', (v) => send({ ...running, assignmentId: v })),
];

const registerRows = rpcRows('ClusterService.RegisterWorker', [
  ...idCases('worker_id', (v) => registerWith((r) => void (r.workerId = v)), { maxLength: 64 }),
  ...textCases('address', (v) => registerWith((r) => void (r.address = v)), { required: true }),
  { input: 'address without a port', send: () => registerWith((r) => void (r.address = 'host')), expect: refused('address') },
  { input: 'address with port 99999', send: () => registerWith((r) => void (r.address = '127.0.0.1:99999')), expect: refused('address') },
  { input: 'capacity missing', send: () => registerWith((r) => void (r.capacity = undefined)), expect: refused('capacity') },
  ...(['cpu', 'memory_gb', 'storage_gb', 'gpu'] as const).flatMap((dim) =>
    numberCases(`capacity.${dim}`, (v) => registerWith((r) => void (r.capacity = { ...r.capacity, [camelOf(dim)]: v })), {
      whole: dim === 'gpu',
    }),
  ),
  ...runningCases((r) => registerWith((req) => void (req.running = [r]))),
  ...textCases('version', (v) => registerWith((r) => void (r.version = v))),
]);

const heartbeatWith = (patch: (r: HeartbeatRequest) => void) => {
  const request: HeartbeatRequest = {
    workerId: 'w1',
    usage: { cpuPercent: 10, memoryUsedGb: 1, loadAverage1m: 0.5, runningContainers: 1 },
    running: [running],
  };
  patch(request);
  return c.worker.heartbeat(request);
};
const heartbeatRows = rpcRows('ClusterService.Heartbeat', [
  ...idCases('worker_id', (v) => heartbeatWith((r) => void (r.workerId = v)), {
    maxLength: 64,
    unknown: {
      value: 'w2',
      expect: { code: 'PERMISSION_DENIED', naming: 'worker w1 cannot act as worker w2', why: "w1's credential speaks for w1 only" },
    },
  }),
  ...(['cpu_percent', 'memory_used_gb', 'load_average_1m'] as const).flatMap((k) =>
    numberCases(`usage.${k}`, (v) => heartbeatWith((r) => void (r.usage = { ...r.usage!, [camelOf(k)]: v }))),
  ),
  { input: 'usage.cpu_percent = 101', send: () => heartbeatWith((r) => void (r.usage = { ...r.usage!, cpuPercent: 101 })), expect: refused('usage.cpu_percent') },
  {
    input: 'usage.running_containers = 2^32 - 1',
    send: () => heartbeatWith((r) => void (r.usage = { ...r.usage!, runningContainers: UINT32_MAX })),
    expect: { accepted: "a count of the worker's own containers, shown as reported: any uint32 is a count" },
  },
  ...runningCases((r) => heartbeatWith((req) => void (req.running = [r]))),
]);

/** A stale assignment: FAILED_PRECONDITION, which tells the worker to drop it. */
const STALE_ASSIGNMENT = {
  value: NO_SUCH_TASK,
  expect: { code: 'FAILED_PRECONDITION', naming: 'no longer current', why: 'a stale assignment, which the worker drops' },
} as const;

const reportWith = (patch: Partial<ReportTaskStatusRequest>) =>
  // RUNNING again: a resend, which changes nothing.
  c.worker.reportTaskStatus({ ...running, status: TaskStatus.TASK_STATUS_RUNNING, reason: '', containerId: 'c1', ...patch });
const reportRows = rpcRows('ClusterService.ReportTaskStatus', [
  ...idCases('task_id', (v) => reportWith({ taskId: v }), { unknown: UNKNOWN_TASK }),
  ...idCases('assignment_id', (v) => reportWith({ assignmentId: v }), { unknown: STALE_ASSIGNMENT }),
  ...enumCases('status', (v) => reportWith({ status: v })),
  { input: 'status = SUCCEEDED', send: () => reportWith({ status: TaskStatus.TASK_STATUS_SUCCEEDED }), expect: refused('status') },
]);

const appendWith = (patch: Partial<AppendLogsRequest>, chunk: Partial<LogChunk> = {}) =>
  c.worker.appendLogs({
    ...running,
    chunks: [{ seq: 0, stream: LogStream.LOG_STREAM_STDOUT, ts: new Date(), data: Buffer.from('hi\n'), marker: false, ...chunk }],
    droppedBytes: 0,
    ...patch,
  });
const appendRows = rpcRows('ClusterService.AppendLogs', [
  ...idCases('task_id', (v) => appendWith({ taskId: v }), { unknown: UNKNOWN_TASK }),
  ...idCases('assignment_id', (v) => appendWith({ assignmentId: v }), { unknown: STALE_ASSIGNMENT }),
  ...uint64Cases('chunks[0].seq', (v) => appendWith({}, { seq: v })),
  { input: 'chunks[0].seq = 2^32 - 1 (the marker)', send: () => appendWith({}, { seq: UINT32_MAX }), expect: refused('chunks[0].seq') },
  ...enumCases('chunks[0].stream', (v) => appendWith({}, { stream: v })),
  ...timeCases('chunks[0].ts', (v) => appendWith({}, { ts: v })),
  { input: 'chunks[0].data = 1 MiB', send: () => appendWith({}, { data: Buffer.alloc(MiB) }), expect: refused('chunks[0].data') },
  { input: 'chunks[0].data = 10 MiB', send: () => appendWith({}, { data: Buffer.alloc(10 * MiB) }), expect: TOO_BIG },
  {
    input: 'chunks of 4097 entries',
    send: () =>
      appendWith({ chunks: Array.from({ length: 4097 }, (_, seq) => ({ seq, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.alloc(0), marker: false })) }),
    expect: refused('chunks'),
  },
  ...uint64Cases('dropped_bytes', (v) => appendWith({ droppedBytes: v })),
]);

const completeWith = (patch: Partial<CompleteTaskRequest>) => c.worker.completeTask(completion(running.taskId, running.assignmentId, patch));
const file = (patch: Partial<OutputFile>): OutputFile => ({ path: 'out.txt', size: 1, sha256: 'a'.repeat(64), ...patch });

/** A task started on w1 for one accepted report, which ends it. */
async function freshRunning() {
  const t = await submit(m);
  return { taskId: t.taskId, assignmentId: await startRunning(m, w1, t.taskId) };
}

/**
 * A worker's final report is never refused for its text: the worker does
 * not resend a refused report, so the task's result would be lost. The
 * reason is kept cut and with control characters replaced.
 */
const reasonKept = (reason: string, stored: string, why: string): HostileCase => ({
  input: `reason ${why}`,
  send: async () => {
    const t = await freshRunning();
    await c.worker.completeTask(completion(t.taskId, t.assignmentId, { status: TaskStatus.TASK_STATUS_FAILED, exitCode: 1, reason }));
    return t.taskId;
  },
  expect: {
    accepted: 'kept safe: a refused final report would lose the result',
    check: async (taskId) => expect((await getTask(m, taskId as string)).reason).toBe(stored),
  },
});

const completeRows = rpcRows('ClusterService.CompleteTask', [
  ...idCases('task_id', (v) => completeWith({ taskId: v }), { unknown: UNKNOWN_TASK }),
  ...idCases('assignment_id', (v) => completeWith({ assignmentId: v }), { unknown: STALE_ASSIGNMENT }),
  ...enumCases('status', (v) => completeWith({ status: v })),
  { input: 'status = RUNNING', send: () => completeWith({ status: TaskStatus.TASK_STATUS_RUNNING }), expect: refused('status') },
  { input: 'exit_code = -1 with SUCCEEDED', send: () => completeWith({ exitCode: -1 }), expect: refused('exit_code') },
  ...textCases('output_files[0].path', (v) => completeWith({ outputFiles: [file({ path: v })] }), {
    required: true,
    controls: { accepted: 'a task may name its files so, and storage stored them as named' },
  }).filter((row) => !('accepted' in row.expect)),
  ...textCases('output_files[0].sha256', (v) => completeWith({ outputFiles: [file({ sha256: v })] }), { required: true }),
  ...uint64Cases('output_files[0].size', (v) => completeWith({ outputFiles: [file({ size: v })] })),
  ...uint64Cases('output_bytes', (v) => completeWith({ outputBytes: v })),
  { input: 'reason = 10 MiB', send: () => completeWith({ reason: HOSTILE.tenMiB }), expect: TOO_BIG },
  reasonKept(HOSTILE.oneMiB, 'x'.repeat(2000), '= 1 MiB, cut to 2000 characters'),
  reasonKept(`${HOSTILE.nul}${HOSTILE.c0}${HOSTILE.c1}`, 'a b' + 'a [2Jb' + 'a 2Jb', 'with NUL, ESC and CSI, each replaced by a space'),
]);

// ---- SchedulerService (with the join secret) -------------------------------

const snapshotWith = (patch: Partial<GetSnapshotRequest>) => c.scheduler.getSnapshot({ maxTasks: 0, afterGeneration: 0, waitMs: 0, ...patch });
const commitWith = (placements: Placement[], unplaced: Unplaced[] = []) => c.scheduler.commitPlacements({ placements, unplaced });

/** A scheduler's note on a waiting task is kept as the task's reason, cut and cleaned like a worker's. */
const noteKept = (reason: string, stored: string, why: string): HostileCase => ({
  input: `unplaced[0].reason ${why}`,
  send: () => commitWith([], [{ taskId: queued, reason }]),
  expect: {
    accepted: 'kept safe: refusing it would refuse the placements committed with it',
    check: async () => expect((await getTask(m, queued)).reason).toBe(stored),
  },
});

const schedulerRows = [
  ...rpcRows('SchedulerService.GetSnapshot', [
    { input: 'max_tasks = 2^32 - 1', send: () => snapshotWith({ maxTasks: UINT32_MAX }), expect: refused('max_tasks') },
    { input: 'wait_ms = 2^32 - 1', send: () => snapshotWith({ waitMs: UINT32_MAX }), expect: refused('wait_ms') },
    ...uint64Cases('after_generation', (v) => snapshotWith({ afterGeneration: v })),
    tooBigMessage((r) => c.scheduler.getSnapshot(r)),
  ]),
  ...rpcRows('SchedulerService.CommitPlacements', [
    ...idCases('placements[0].task_id', (v) => commitWith([{ taskId: v, workerId: 'w1' }]), {
      unknown: { value: NO_SUCH_TASK, expect: { accepted: 'skipped as "task not found": a plan races the queue' } },
    }),
    ...idCases('placements[0].worker_id', (v) => commitWith([{ taskId: queued, workerId: v }]), {
      maxLength: 64,
      unknown: { value: 'w-none', expect: { accepted: 'skipped: the worker may have left since the snapshot' } },
    }),
    ...idCases('unplaced[0].task_id', (v) => commitWith([], [{ taskId: v, reason: 'no room' }]), {
      unknown: { value: NO_SUCH_TASK, expect: { accepted: 'nothing to note: the task left the queue since the snapshot' } },
    }),
    { input: 'unplaced[0].reason = 10 MiB', send: () => commitWith([], [{ taskId: queued, reason: HOSTILE.tenMiB }]), expect: TOO_BIG },
    noteKept(HOSTILE.oneMiB, 'x'.repeat(500), '= 1 MiB, cut to 500 characters'),
    noteKept(`${HOSTILE.nul}${HOSTILE.c0}${HOSTILE.c1}`, 'a b' + 'a [2Jb' + 'a 2Jb', 'with NUL, ESC and CSI, each replaced by a space'),
  ]),
];

// ---- the table -------------------------------------------------------------

const rows: HostileRow[] = [
  ...submitRows,
  ...dispatchRows,
  ...getRows,
  ...listRows,
  ...cancelRows,
  ...listWorkersRows,
  ...drainRows,
  ...streamLogsRows,
  ...listFilesRows,
  ...downloadRows,
  ...deleteRows,
  ...identityRows,
  ...registerRows,
  ...heartbeatRows,
  ...reportRows,
  ...appendRows,
  ...completeRows,
  ...schedulerRows,
];

describe('hostile input to the master', () => {
  it.each(rows.map((row) => [`${row.rpc}: ${row.input}`, row] as const))('%s', async (_, row) => {
    const before = 'accepted' in row.expect ? undefined : await stored();
    expect(await judge(row)).toBeUndefined();
    if (before) expect(await stored()).toEqual(before);
    await othersServed();
  });

  it('refuses a 100 MiB message by its size, and serves the next caller', async () => {
    const before = await stored();
    const row = { input: '100 MiB', send: () => c.tasks.submitTask(unknownFieldMessage(100 * MiB) as never), expect: TOO_BIG };
    expect(await judge(row)).toBeUndefined();
    expect(await stored()).toEqual(before);
    await othersServed();
  });

  it('refuses bytes that are not a protobuf message at all, naming the message type', async () => {
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    const row = {
      input: 'a length past the end',
      send: () => c.tasks.getTask(garbage as never),
      expect: refused('cloudai.v1.GetTaskRequest'),
    };
    expect(await judge(row)).toBeUndefined();
    await othersServed();
  });
});

/**
 * Plays storage for the master's relays: a real StorageService that has
 * no files, and records the downloads it was asked for.
 */
class StorageStandIn {
  readonly downloads: DownloadFilesRequest[] = [];
  private constructor(
    readonly address: string,
    private readonly server: Server,
  ) {}

  static async start(): Promise<StorageStandIn> {
    const server = createServer();
    const ref: { standIn?: StorageStandIn } = {};
    const impl: StorageServiceImplementation = {
      async uploadOutputs() {
        throw new ServerError(Status.UNIMPLEMENTED, 'not in this test');
      },
      async listFiles() {
        return { files: [], totalBytes: 0 };
      },
      // eslint-disable-next-line require-yield
      async *downloadFiles(req) {
        ref.standIn!.downloads.push(req);
        throw new ServerError(Status.NOT_FOUND, `task ${req.taskId} has no output file ${JSON.stringify(req.path)}`);
      },
      async deleteFiles() {
        return { deletedFiles: 0, deletedBytes: 0 };
      },
    };
    server.add(StorageServiceDefinition, impl);
    const port = await server.listen('127.0.0.1:0');
    ref.standIn = new StorageStandIn(`127.0.0.1:${port}`, server);
    return ref.standIn;
  }

  async stop(): Promise<void> {
    await this.server.shutdown();
  }
}
