import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, requireDocker, startCluster, TEST_IMAGE, waitFor, type CliResult, type LocalCluster } from '@cloudai/testing';

// The CLI's operator and scripting features against real master, scheduler,
// storage and worker processes: what the master does with them is the point.

let cluster: LocalCluster;
let cli: (...args: string[]) => Promise<CliResult>;
let asAdmin: (...args: string[]) => Promise<CliResult>;

beforeAll(async () => {
  await requireDocker();
  // The worker runs without WORKER_ALLOW_NETWORK, as by default.
  cluster = await startCluster({ workers: 1 });
  cli = (...args) => cluster.cli(args);
  asAdmin = (...args) => cluster.cli(args, { CLOUDAI_TOKEN: cluster.adminToken });
});

afterAll(async () => {
  await cluster?.stop();
});

const versionOf = (app: string) =>
  (JSON.parse(readFileSync(join(REPO_ROOT, 'apps', app, 'package.json'), 'utf8')) as { version: string }).version;

async function submit(...args: string[]): Promise<string> {
  const r = await cli('task', TEST_IMAGE, '--json', ...args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { taskId: string }).taskId;
}

async function status(taskId: string): Promise<{ status: string; reason: string }> {
  const r = await cli('status', taskId, '--json');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { status: string; reason: string };
}

describe('the CLI against a real cluster', () => {
  it("version: the CLI's and the running master's", async () => {
    const r = await cli('version', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ cli: versionOf('cli'), master: versionOf('master'), masterAddress: cluster.masterAddr });
  });

  it('--idempotency-key: a resubmission gets the first task, another key a new one', async () => {
    const key = `e2e-${Date.now()}`;
    const first = await submit('--idempotency-key', key, '--', 'true');
    expect(await submit('--idempotency-key', key, '--', 'true')).toBe(first);
    const other = await cli('task', TEST_IMAGE, '--json', '--idempotency-key', key, '--name', 'ignored', '--', 'false');
    expect(JSON.parse(other.stdout)).toMatchObject({ taskId: first });
    expect(other.stderr).toMatch(new RegExp(`^warning: --idempotency-key "${key}" was already used for task ${first} .*nothing new was submitted\\n$`));
    expect(await submit('--idempotency-key', `${key}-2`, '--', 'true')).not.toBe(first);
    expect((await cli('wait', first)).code).toBe(0);
  });

  it('--network on a worker without WORKER_ALLOW_NETWORK: FAILED, and the reason says why', async () => {
    const id = await submit('--network', '--', 'true');
    const waited = await cli('wait', id);
    expect(waited.code).toBe(1);
    const task = await status(id);
    expect(task.status).toBe('FAILED');
    expect(task.reason).toContain('network access is not enabled on this worker');
    expect(task.reason).toContain('WORKER_ALLOW_NETWORK=true');
  });

  it('workers drain/undrain: refused to a user; an admin drains, new tasks wait, undrain lets them run', async () => {
    const worker = cluster.workerId(1);
    const refused = await cli('workers', 'drain', worker);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('error: permission denied: only admins may drain workers\n');

    const drained = await asAdmin('workers', 'drain', worker);
    expect(drained.stderr).toBe('');
    expect(drained.code).toBe(0);
    expect(drained.stdout).toMatch(new RegExp(`^Worker ${worker} is DRAINING`));
    const listed = JSON.parse((await cli('workers', '--json')).stdout) as { workerId: string; state: string }[];
    expect(listed).toEqual([expect.objectContaining({ workerId: worker, state: 'DRAINING' })]);

    const id = await submit('--', 'true');
    // Past a few scheduling rounds it is still waiting: nothing takes new tasks.
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await status(id)).status).toBe('QUEUED');

    const resumed = await asAdmin('workers', 'undrain', worker, '--json');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ workerId: worker, state: 'ALIVE' });
    await waitFor(async () => ((await status(id)).status === 'SUCCEEDED' ? true : undefined), {
      what: `task ${id} to run once the worker is back`,
      timeoutMs: 60_000,
    });
  });
});
