import { ConfigError, parseEnv } from '@cloudai/config';
import { describe, expect, it } from 'vitest';
import { WORKER_ID_PATTERN } from '@cloudai/domain';
import { Env, defaultWorkerId } from './env.js';

describe('worker env', () => {
  it('fills defaults, leaving capacity overrides unset so the host decides', () => {
    const env = parseEnv(Env, {});
    expect(env).toMatchObject({
      CLOUDAI_MASTER: '127.0.0.1:50051',
      LISTEN_ADDR: '127.0.0.1:0',
      WORKER_GPUS: 0,
      WORKER_PIDS_LIMIT: 1024,
      WORKER_ALLOW_NETWORK: false,
      WORKER_SHUTDOWN_GRACE_MS: 10_000,
      CLOUDAI_DATA_DIR: './.cloudai',
      CLOUDAI_STORAGE: ['127.0.0.1:50052'],
      WORKER_OUTPUT_PATH: '/output',
      WORKER_LOG_FLUSH_MS: 50,
      WORKER_LOG_BUFFER_BYTES: 4 * 1024 * 1024,
      WORKER_LOG_SPOOL_BYTES: 1024 ** 3,
      WORKER_UPLOAD_CHUNK_BYTES: 1024 * 1024,
      LOG_LEVEL: 'info',
    });
    expect(env.WORKER_OUTPUT_ROOT).toBeUndefined();
    expect(env.WORKER_CPU).toBeUndefined();
    expect(env.WORKER_MEMORY_GB).toBeUndefined();
    expect(env.WORKER_STORAGE_GB).toBeUndefined();
    expect(env.WORKER_ID).toMatch(WORKER_ID_PATTERN);
  });

  it('parses overrides and explicit booleans', () => {
    const env = parseEnv(Env, {
      WORKER_CPU: '2.5',
      WORKER_MEMORY_GB: '0.5',
      WORKER_ALLOW_NETWORK: 'false',
      LOG_PRETTY: 'yes',
      ADVERTISE_ADDR: 'localhost:7000',
    });
    expect(env).toMatchObject({
      WORKER_CPU: 2.5,
      WORKER_MEMORY_GB: 0.5,
      WORKER_ALLOW_NETWORK: false,
      LOG_PRETTY: true,
      ADVERTISE_ADDR: 'localhost:7000',
    });
  });

  it('rejects bad values naming the variable', () => {
    expect(() => parseEnv(Env, { ADVERTISE_ADDR: '127.0.0.1:0' })).toThrow(/ADVERTISE_ADDR: must name a real port/);
    expect(() => parseEnv(Env, { CLOUDAI_MASTER: 'nohost' })).toThrow(/CLOUDAI_MASTER: expected host:port/);
    expect(() => parseEnv(Env, { WORKER_GPUS: '1.5' })).toThrow(/WORKER_GPUS: expected a whole number/);
    expect(() => parseEnv(Env, { WORKER_ID: 'x'.repeat(65) })).toThrow(ConfigError);
    expect(() => parseEnv(Env, { WORKER_UPLOAD_CHUNK_BYTES: String(1024 * 1024 + 1) })).toThrow(
      /WORKER_UPLOAD_CHUNK_BYTES: must be <= 1048576/,
    );
    expect(() => parseEnv(Env, { WORKER_LOG_SPOOL_BYTES: '1000' })).toThrow(/WORKER_LOG_SPOOL_BYTES: must be >= 65536/);
    expect(() => parseEnv(Env, { WORKER_LOG_SPOOL_BYTES: 'lots' })).toThrow(/WORKER_LOG_SPOOL_BYTES/);
    expect(() => parseEnv(Env, { WORKER_OUTPUT_PATH: 'output' })).toThrow(/WORKER_OUTPUT_PATH: must be an absolute path/);
    expect(() => parseEnv(Env, { WORKER_OUTPUT_PATH: '/out:ro' })).toThrow(/WORKER_OUTPUT_PATH: must be an absolute path/);
    expect(() => parseEnv(Env, { WORKER_OUTPUT_PATH: '/' })).toThrow(/WORKER_OUTPUT_PATH: must not be \/ or contain \.\./);
  });

  it('rejects invalid identity, capacity and booleans naming the variable', () => {
    expect(() => parseEnv(Env, { WORKER_ID: 'bad id!', LOG_LEVEL: 'silent' })).toThrow(/WORKER_ID: must be 1-64 characters/);
    expect(() => parseEnv(Env, { WORKER_CPU: '-2', LOG_LEVEL: 'silent' })).toThrow(/WORKER_CPU: must be >= 0.001/);
    expect(() => parseEnv(Env, { WORKER_ALLOW_NETWORK: 'maybe', LOG_LEVEL: 'silent' })).toThrow(
      /WORKER_ALLOW_NETWORK: expected true or false/,
    );
  });

  it('derives a valid default worker id from any hostname', () => {
    expect(defaultWorkerId('build box#1.local')).toBe('worker-build-box-1.local');
    expect(defaultWorkerId('')).toBe('worker-host');
    expect(defaultWorkerId('h'.repeat(100))).toMatch(WORKER_ID_PATTERN);
  });
});
