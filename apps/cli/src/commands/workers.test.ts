import { WorkerState, type DrainWorkerRequest, type ListWorkersRequest, type Worker } from '@cloudai/proto';
import { Status } from 'nice-grpc';
import { beforeEach, describe, expect, it } from 'vitest';
import { failWith } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();

const workers: Worker[] = [
  {
    workerId: 'worker-1',
    address: '127.0.0.1:7001',
    state: WorkerState.WORKER_STATE_ALIVE,
    capacity: { cpu: 4, memoryGb: 16, storageGb: 100, gpu: 1 },
    allocated: { cpu: 1.5, memoryGb: 2.5, storageGb: 2, gpu: 0 },
    usage: { cpuPercent: 37.5, memoryUsedGb: 3.25, loadAverage1m: 0.8, runningContainers: 2 },
    lastHeartbeat: new Date('2025-01-01T12:00:00Z'),
    registeredAt: new Date('2025-01-01T11:00:00Z'),
    taskIds: ['task-a', 'task-b'],
  },
  {
    workerId: 'worker-2',
    address: '127.0.0.1:7002',
    state: WorkerState.WORKER_STATE_DRAINING,
    capacity: { cpu: 2, memoryGb: 4, storageGb: 10, gpu: 0 },
    allocated: { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 },
    usage: undefined,
    lastHeartbeat: undefined,
    registeredAt: undefined,
    taskIds: [],
  },
];

describe('cloudai workers', () => {
  beforeEach(() => master.setHandlers({ listWorkers: async () => ({ workers }) }));

  it('--json prints every worker with capacity, allocation, usage and heartbeat', async () => {
    const res = await runCli(['workers', '--json'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual([
      {
        workerId: 'worker-1',
        state: 'ALIVE',
        address: '127.0.0.1:7001',
        capacity: { cpu: 4, memoryGb: 16, storageGb: 100, gpu: 1 },
        allocated: { cpu: 1.5, memoryGb: 2.5, storageGb: 2, gpu: 0 },
        usage: { cpuPercent: 37.5, memoryUsedGb: 3.25, loadAverage1m: 0.8, runningContainers: 2 },
        lastHeartbeat: '2025-01-01T12:00:00.000Z',
        registeredAt: '2025-01-01T11:00:00.000Z',
        taskIds: ['task-a', 'task-b'],
      },
      {
        workerId: 'worker-2',
        state: 'DRAINING',
        address: '127.0.0.1:7002',
        capacity: { cpu: 2, memoryGb: 4, storageGb: 10, gpu: 0 },
        allocated: { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 },
        usage: null,
        lastHeartbeat: null,
        registeredAt: null,
        taskIds: [],
      },
    ]);
    expect((master.callsTo('listWorkers')[0]!.request as ListWorkersRequest).includeLost).toBe(false);
  });

  it('prints allocated/capacity per resource in a table', async () => {
    const res = await runCli(['workers'], env);
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^WORKER +STATE +ADDRESS +CPU +MEMORY +STORAGE +GPU +TASKS +LAST HEARTBEAT$/);
    expect(lines[1]!.split(/ {2,}/)).toEqual([
      'worker-1',
      'ALIVE',
      '127.0.0.1:7001',
      '1.5/4',
      '2.5/16 GB',
      '2/100 GB',
      '0/1',
      '2',
      expect.stringMatching(/^\d+d ago$/),
    ]);
    expect(lines[2]!.split(/ {2,}/)).toEqual(['worker-2', 'DRAINING', '127.0.0.1:7002', '0/2', '0/4 GB', '0/10 GB', '0/0', '0', '-']);
  });

  it('--all asks the master for lost workers too', async () => {
    await runCli(['workers', '--all'], env);
    expect((master.callsTo('listWorkers')[0]!.request as ListWorkersRequest).includeLost).toBe(true);
  });
});

describe('cloudai workers drain / undrain', () => {
  /** Answers DrainWorker as the master does: the worker in its new state. */
  beforeEach(() =>
    master.setHandlers({
      drainWorker: async (req) => ({
        worker: {
          ...workers[0]!,
          workerId: req.workerId,
          state: req.drain ? WorkerState.WORKER_STATE_DRAINING : WorkerState.WORKER_STATE_ALIVE,
        },
      }),
    }),
  );

  it('drain asks the master to drain the worker and says what that means', async () => {
    const res = await runCli(['workers', 'drain', 'worker-1'], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(master.callsTo('drainWorker').map((c) => c.request as DrainWorkerRequest)).toEqual([{ workerId: 'worker-1', drain: true }]);
    expect(res.stdout).toBe('Worker worker-1 is DRAINING: it gets no new tasks; the ones it runs carry on to the end\n');
  });

  it('undrain asks the master to resume the worker', async () => {
    const res = await runCli(['workers', 'undrain', 'worker-1'], env);
    expect(res.code).toBe(0);
    expect(master.callsTo('drainWorker').map((c) => c.request as DrainWorkerRequest)).toEqual([{ workerId: 'worker-1', drain: false }]);
    expect(res.stdout).toBe('Worker worker-1 is ALIVE: it takes new tasks again\n');
  });

  it('--json prints the worker in the `workers --json` shape', async () => {
    const res = await runCli(['workers', 'drain', 'worker-1', '--json'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ workerId: 'worker-1', state: 'DRAINING', address: '127.0.0.1:7001', taskIds: ['task-a', 'task-b'] });
  });

  it("reports the master's refusal of a non-admin as one line, exit 1", async () => {
    master.setHandlers({ drainWorker: failWith(Status.PERMISSION_DENIED, 'only admins may drain workers') });
    const res = await runCli(['workers', 'drain', 'worker-1'], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('error: permission denied: only admins may drain workers\n');
  });

  it('an unknown worker is one line from the master, exit 1', async () => {
    master.setHandlers({ drainWorker: failWith(Status.NOT_FOUND, 'worker ghost is not registered') });
    const res = await runCli(['workers', 'undrain', 'ghost'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: worker ghost is not registered\n');
  });

  it.each([[['workers', 'drain']], [['workers', 'drain', 'no/slash']], [['workers', 'undrain', '']]])(
    '%j is a usage error, exit 2, sending nothing',
    async (args) => {
      const res = await runCli(args, env);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/^error: /);
      expect(res.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(master.calls).toHaveLength(0);
    },
  );

  it('`workers` alone still lists the workers', async () => {
    master.setHandlers({ listWorkers: async () => ({ workers }) });
    const res = await runCli(['workers', '--json'], env);
    expect(res.code).toBe(0);
    expect((JSON.parse(res.stdout) as unknown[]).length).toBe(2);
    expect(master.callsTo('drainWorker')).toHaveLength(0);
  });
});
