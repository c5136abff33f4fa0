import { WorkerState, type ListWorkersRequest, type Worker } from '@cloudai/proto';
import { beforeEach, describe, expect, it } from 'vitest';
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
