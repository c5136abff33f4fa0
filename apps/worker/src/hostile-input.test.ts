import { issueMasterAssertion, workerAudience } from '@cloudai/auth';
import { WorkerServiceDefinition, type AssignTaskRequest, type Resources, type TaskSpec } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import {
  camelOf,
  idCases,
  judge,
  numberCases,
  refused,
  requireDocker,
  rpcRows,
  sendingRawRequests,
  textCases,
  TOO_BIG,
  UINT32_MAX,
  unknownFieldMessage,
  type HostileCase,
  type HostileRow,
} from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_WORKER_ID } from './docker-executor.js';
import { assignmentFor } from './testing/fake-master.js';
import { useTestWorker } from './testing/harness.js';

// Both WorkerService RPCs, sent what a scanner sends, as the master (the
// only caller a worker takes), so the input and not the caller is judged.
// Every row is refused before an execution exists: no container is made
// and nothing is reported. The worker reads only the assignment's ids and
// the task's spec; the rest of the Task (its name, user, times, outputs)
// is the master's record, which it does not use.

const MiB = 1024 * 1024;
const fixture = useTestWorker();
let client: ReturnType<typeof connect<typeof WorkerServiceDefinition>>['client'];
let closeClient = () => {};

beforeAll(() => {
  const worker = fixture.worker;
  // Big enough that the worker, not the client, refuses what is too large.
  const c = connect(sendingRawRequests(WorkerServiceDefinition), worker.app.address, {
    bearer: () => issueMasterAssertion(fixture.master.signingKey, workerAudience(worker.workerId)),
    maxMessageBytes: 256 * MiB,
  });
  client = c.client;
  closeClient = c.close;
});
afterAll(() => closeClient());

/** Executions and containers of this worker: none, whatever was sent. */
async function started() {
  const docker = await requireDocker();
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABEL_WORKER_ID}=${fixture.worker.workerId}`] } });
  return { executions: fixture.worker.app.runner.running(), containers: containers.length, statuses: fixture.master.events.filter((e) => e.kind === 'status').length };
}

/** The master, on the connection it always uses, still gets answers. */
async function masterServed(): Promise<void> {
  expect(await fixture.worker.client.cancelTask({ taskId: 'no-such-task', assignmentId: '', reason: '' })).toEqual({ found: false });
}

type Assignment = NonNullable<AssignTaskRequest['assignment']>;

/** A valid AssignTask request (it would run `true`) with `patch` applied to its assignment. */
function assignWith(patch: (a: Assignment & { task: { spec: TaskSpec } }) => void) {
  const request = assignmentFor(fixture.worker.workerId, { command: ['true'] });
  patch(request.assignment as Assignment & { task: { spec: TaskSpec } });
  return client.assignTask(request);
}
const specWith = (patch: (s: TaskSpec) => void) => assignWith((a) => patch(a.task.spec));

const SPEC = 'assignment.task.spec';
const assignRows = rpcRows('WorkerService.AssignTask', [
  { input: 'assignment missing', send: () => client.assignTask({}), expect: refused('assignment') },
  ...idCases('assignment.assignment_id', (v) => assignWith((a) => void (a.assignmentId = v))),
  ...idCases('assignment.task_id', (v) => assignWith((a) => void ((a.taskId = v), (a.task.taskId = v)))),
  ...idCases('assignment.worker_id', (v) => assignWith((a) => void (a.workerId = v)), {
    maxLength: 64,
    // Unset means "whichever worker gets it".
    required: false,
    unknown: {
      value: 'someone-else',
      expect: { code: 'FAILED_PRECONDITION', naming: 'assignment.worker_id is "someone-else"', why: 'meant for another worker' },
    },
  }),
  { input: 'assignment.task missing', send: () => assignWith((a) => void ((a as Assignment).task = undefined)), expect: refused('assignment.task') },
  {
    input: 'assignment.task.task_id of another task',
    send: () => assignWith((a) => void (a.task.taskId = 'other-task')),
    expect: refused('assignment.task.task_id'),
  },
  { input: `${SPEC} missing`, send: () => assignWith((a) => void ((a.task as { spec?: TaskSpec }).spec = undefined)), expect: refused(SPEC) },
  ...textCases(`${SPEC}.image`, (v) => specWith((s) => void (s.image = v)), { required: true }),
  ...textCases(`${SPEC}.command[0]`, (v) => specWith((s) => void (s.command = [v])), {
    naming: `${SPEC}.command`,
    // What the master takes (see its table) runs as is; here each would start a container.
  }).filter((row) => !/ESC|CSI/.test(row.input)),
  ...textCases(`${SPEC}.env key`, (v) => specWith((s) => void (s.env = { [v]: 'x' })), { naming: `${SPEC}.env`, required: true }),
  ...textCases(`${SPEC}.env value`, (v) => specWith((s) => void (s.env = { K: v })), { naming: `${SPEC}.env` }).filter(
    (row) => !/ESC|CSI/.test(row.input),
  ),
  { input: `${SPEC}.resources missing`, send: () => specWith((s) => void (s.resources = undefined)), expect: refused(`${SPEC}.resources`) },
  ...(['cpu', 'memory_gb', 'storage_gb', 'gpu'] as const).flatMap((dim) => [
    ...numberCases(`${SPEC}.resources.${dim}`, (v) => specWith((s) => void (s.resources = { ...s.resources, [camelOf(dim)]: v } as Resources)), {
      whole: dim === 'gpu',
    }),
  ]),
  ...(['cpu', 'memory_gb'] as const).map(
    (dim): HostileCase => ({
      input: `${SPEC}.resources.${dim} missing`,
      send: () => specWith((s) => void delete (s.resources as Record<string, unknown>)[camelOf(dim)]),
      expect: refused(`${SPEC}.resources.${dim}`),
    }),
  ),
  ...textCases(`${SPEC}.task_name`, (v) => specWith((s) => void (s.taskName = v))),
  { input: `${SPEC}.timeout_seconds = 2^32 - 1`, send: () => specWith((s) => void (s.timeoutSeconds = UINT32_MAX)), expect: refused(`${SPEC}.timeout_seconds`) },
  {
    input: `${SPEC}.network = true`,
    send: () => specWith((s) => void (s.network = true)),
    expect: { code: 'FAILED_PRECONDITION', naming: 'network access is not enabled', why: 'well-formed, but this worker runs no networked task' },
  },
  { input: 'a 10 MiB message (an unknown field)', send: () => client.assignTask(unknownFieldMessage(10 * MiB) as never), expect: TOO_BIG },
]);

/** A malformed id can match no execution: refused. A well-formed unknown one cancels nothing. */
const cancelRows = rpcRows('WorkerService.CancelTask', [
  { input: 'task_id and assignment_id both empty', send: () => client.cancelTask({ taskId: '', assignmentId: '', reason: '' }), expect: refused('task_id or assignment_id') },
  ...idCases('task_id', (v) => client.cancelTask({ taskId: v, assignmentId: '', reason: '' }), {
    required: false,
    unknown: { value: 'no-such-task', expect: { accepted: 'nothing of that id runs here: found is false' } },
  }),
  ...idCases('assignment_id', (v) => client.cancelTask({ taskId: '', assignmentId: v, reason: '' }), {
    required: false,
    unknown: { value: 'no-such-assignment', expect: { accepted: 'nothing of that id runs here: found is false' } },
  }),
  ...textCases('reason', (v) => client.cancelTask({ taskId: 'no-such-task', assignmentId: '', reason: v }), {
    // A refused cancellation would leave the task running: its reason is kept, cut and cleaned.
    oneMiB: { accepted: 'kept cut to 500 characters' },
    nul: { accepted: 'kept, control characters replaced' },
    controls: { accepted: 'kept, control characters replaced' },
  }),
]);

const rows: HostileRow[] = [...assignRows, ...cancelRows];

describe('hostile input to a worker', () => {
  it.each(rows.map((row) => [`${row.rpc}: ${row.input}`, row] as const))('%s', async (_, row) => {
    const before = await started();
    expect(await judge(row)).toBeUndefined();
    expect(await started()).toEqual(before);
    await masterServed();
  });

  it('refuses a 100 MiB message by its size', async () => {
    const row = { input: '100 MiB', send: () => client.assignTask(unknownFieldMessage(100 * MiB) as never), expect: TOO_BIG };
    expect(await judge(row)).toBeUndefined();
    await masterServed();
  });
});
