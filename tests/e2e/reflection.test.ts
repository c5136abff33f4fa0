import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueMasterAssertion, SigningKey, workerAudience, type MasterAudience } from '@cloudai/auth';
import {
  REPO_ROOT,
  requireDocker,
  requireGrpcurl,
  runGrpcurl,
  startCluster,
  TEST_IMAGE,
  type GrpcurlResult,
  type LocalCluster,
} from '@cloudai/testing';

// gRPC reflection as ops use it: grpcurl, with no .proto file at hand,
// against every server of a running cluster, and always behind the
// credential that server already takes.

const grpcurl = requireGrpcurl('the gRPC reflection tests');

describe.skipIf(!grpcurl)('gRPC reflection through grpcurl', () => {
  let cluster: LocalCluster;
  let workerAddr: string;
  let schedulerAddr: string;

  beforeAll(async () => {
    await requireDocker();
    cluster = await startCluster({ workers: 1 });
    const addressLogged = (app: string, msg: string) =>
      String(cluster.apps.get(app)?.logs.find((l) => l.msg === msg)?.address);
    workerAddr = addressLogged('worker-1', 'worker started');
    schedulerAddr = addressLogged('scheduler', 'scheduler listening');
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  /** `grpcurl -plaintext [-H authorization…] [flags] address command…` */
  function call(address: string, bearer: string | undefined, command: string[], flags: string[] = []): Promise<GrpcurlResult> {
    const auth = bearer === undefined ? [] : ['-H', `authorization: Bearer ${bearer}`];
    return runGrpcurl(grpcurl!, ['-plaintext', ...auth, ...flags, address, ...command]);
  }

  const services = (r: GrpcurlResult) => r.stdout.trim().split('\n');

  /** What the master signs its own calls to storage and a worker with. */
  async function masterAssertion(audience: MasterAudience): Promise<string> {
    const pem = await readFile(join(cluster.dataDir.path, 'master', 'signing-key.pem'));
    return issueMasterAssertion(SigningKey.fromPem(pem), audience);
  }

  describe('on the master', () => {
    it("lists the master's services and health for a user's token", async () => {
      const r = await call(cluster.masterAddr, cluster.userToken, ['list']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(services(r)).toEqual(
        expect.arrayContaining([
          'cloudai.v1.ClusterService',
          'cloudai.v1.IdentityService',
          'cloudai.v1.SchedulerService',
          'cloudai.v1.TaskService',
          'grpc.health.v1.Health',
        ]),
      );
      // What this server answers, not every service cloudai has.
      expect(services(r)).not.toContain('cloudai.v1.WorkerService');
      expect(services(r)).not.toContain('cloudai.v1.StorageService');
    });

    it('calls TaskService/GetTask, knowing the messages only through reflection', async () => {
      const submitted = await cluster.cli(['task', TEST_IMAGE, '--json', '--', 'sh', '-c', 'echo reflected']);
      expect(submitted.code).toBe(0);
      const { taskId } = JSON.parse(submitted.stdout) as { taskId: string };
      // The .proto field name: what reflection describes.
      const r = await call(cluster.masterAddr, cluster.userToken, ['cloudai.v1.TaskService/GetTask'], [
        '-d',
        JSON.stringify({ task_id: taskId }),
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const { task } = JSON.parse(r.stdout) as { task: Record<string, unknown> };
      expect(task).toMatchObject({
        taskId,
        userId: 'e2e',
        spec: { image: TEST_IMAGE, command: ['sh', '-c', 'echo reflected'] },
      });
      // A google.protobuf.Timestamp, resolved through the file reflection served with the task's.
      expect(new Date(String(task.submittedAt)).getTime()).toBeGreaterThan(0);
    });

    it('refuses reflection without a credential, and with a wrong one', async () => {
      const none = await call(cluster.masterAddr, undefined, ['list']);
      expect(none.code).not.toBe(0);
      expect(none.stderr).toContain('code = Unauthenticated desc = no credential');
      const wrong = await call(cluster.masterAddr, `cai_${'x'.repeat(40)}`, ['list']);
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toContain('code = Unauthenticated');
      expect(wrong.stdout).toBe('');
    });

    it('still answers health without a credential', async () => {
      const r = await runGrpcurl(grpcurl!, [
        '-plaintext',
        // No reflection here: health's own .proto, as a probe without credentials has it.
        '-import-path',
        join(REPO_ROOT, 'packages', 'proto', 'standard'),
        '-proto',
        'grpc/health/v1/health.proto',
        cluster.masterAddr,
        'grpc.health.v1.Health/Check',
      ]);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ status: 'SERVING' });
    });
  });

  describe('on a worker', () => {
    it("lists WorkerService and health with the master's assertion for that worker", async () => {
      const r = await call(workerAddr, await masterAssertion(workerAudience(cluster.workerId(1))), ['list']);
      expect(r.stderr).toBe('');
      expect(services(r)).toEqual(['cloudai.v1.WorkerService', 'grpc.health.v1.Health']);
    });

    it("refuses a user's token and no credential", async () => {
      for (const bearer of [cluster.userToken, undefined]) {
        const r = await call(workerAddr, bearer, ['list']);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('code = Unauthenticated');
        expect(r.stdout).toBe('');
      }
    });
  });

  describe('on storage', () => {
    it("lists StorageService and health with the master's assertion for storage", async () => {
      const r = await call(cluster.storageAddr, await masterAssertion('storage'), ['list']);
      expect(r.stderr).toBe('');
      expect(services(r)).toEqual(['cloudai.v1.StorageService', 'grpc.health.v1.Health']);
    });

    it("refuses a user's token and no credential", async () => {
      for (const bearer of [cluster.userToken, undefined]) {
        const r = await call(cluster.storageAddr, bearer, ['list']);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('code = Unauthenticated');
      }
    });
  });

  describe("on the scheduler's health server", () => {
    it("lists health with the cluster's join secret, and describes it", async () => {
      const joinSecret = (await readFile(cluster.joinTokenFile, 'utf8')).trim();
      const r = await call(schedulerAddr, joinSecret, ['list']);
      expect(r.stderr).toBe('');
      expect(services(r)).toEqual(['grpc.health.v1.Health']);
      const described = await call(schedulerAddr, joinSecret, ['describe', 'grpc.health.v1.Health']);
      expect(described.stdout).toContain('rpc Check ( .grpc.health.v1.HealthCheckRequest ) returns ( .grpc.health.v1.HealthCheckResponse );');
    });

    it("refuses a user's token and no credential", async () => {
      for (const bearer of [cluster.userToken, undefined]) {
        const r = await call(schedulerAddr, bearer, ['list']);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('code = Unauthenticated');
      }
    });
  });
});
