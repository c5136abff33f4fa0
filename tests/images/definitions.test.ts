import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '@cloudai/testing';
import { describe, expect, it } from 'vitest';
import { COMPOSE, run } from './commands.js';
import { APPS, imageOf } from './image-cluster.js';

// What holds docker/ together without building anything: the Dockerfiles
// share their build, every build has the same context, and the compose files
// are valid for compose itself (v1 here: Debian's docker-compose).

const docker = (file: string) => readFile(join(REPO_ROOT, 'docker', file), 'utf8');

describe('the Dockerfiles', () => {
  it('share every stage but the runtime one, so the workspace is built once for all six', async () => {
    const shared = async (app: string) => {
      const text = await docker(`${app}.Dockerfile`);
      const from = text.indexOf('FROM ');
      const runtime = text.indexOf('FROM ${NODE_IMAGE} AS runtime');
      expect(from, app).toBeGreaterThan(0);
      expect(runtime, app).toBeGreaterThan(from);
      return text.slice(from, runtime);
    };
    const master = await shared('master');
    for (const app of APPS) expect(await shared(app), app).toBe(master);
  });

  it('each have the same build context (docker/<app>.Dockerfile.dockerignore)', async () => {
    const master = await docker('master.Dockerfile.dockerignore');
    for (const app of APPS) expect(await docker(`${app}.Dockerfile.dockerignore`), app).toBe(master);
  });
});

describe('the compose files', () => {
  // compose only checks that DOCKER_GID is set; certificates need not exist.
  const env = { ...process.env, DOCKER_GID: '999' };
  const config = (...files: string[]) =>
    run(COMPOSE, [...files.flatMap((f) => ['-f', `docker/${f}`]), 'config'], { env, cwd: REPO_ROOT });

  for (const files of [['compose.yaml'], ['compose.yaml', 'compose.publish.yaml'], ['compose.yaml', 'compose.local.yaml']]) {
    it(`validate: ${files.join(' + ')}`, async () => {
      const r = await config(...files);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      for (const app of APPS.filter((a) => a !== 'cli')) expect(r.stdout).toContain(`image: ${imageOf(app)}\n`);
    });
  }

  it('put every service on the host network with compose.local.yaml, and publish no port there', async () => {
    const r = await config('compose.yaml', 'compose.local.yaml');
    const services = (await run(COMPOSE, ['-f', 'docker/compose.yaml', 'config', '--services'], { env, cwd: REPO_ROOT })).stdout
      .trim()
      .split('\n');
    expect(services.sort()).toEqual(['master', 'mongo', 'scheduler', 'storage', 'web', 'worker', 'worker-data']);
    expect(r.stdout.match(/^ {4}network_mode: host$/gm)).toHaveLength(services.length);
    expect(r.stdout).not.toMatch(/^ {4}ports:/m);
  });

  // An override cannot take a published port away, and compose refuses one
  // on the host network: so compose.yaml publishes none itself.
  it('publish the master\'s and the web console\'s ports through compose.publish.yaml only', async () => {
    const r = await config('compose.yaml', 'compose.publish.yaml');
    expect(r.stdout).toContain('127.0.0.1:50051:50051');
    expect(r.stdout).toContain('127.0.0.1:8080:8080');
    const base = await config('compose.yaml');
    expect(base.stdout).not.toMatch(/^ {4}ports:/m);
  });
});
