import { parseEnv } from '@cloudai/config';
import { describe, expect, it } from 'vitest';
import { Env } from './env.js';

describe('storage env: STORAGE_BACKEND', () => {
  it('is fs by default, with no object store, whatever S3_* says', () => {
    const env = parseEnv(Env, { S3_BUCKET: 'Not A Bucket' });
    expect(env.STORAGE_BACKEND).toBe('fs');
    expect(env.objectStore).toBeUndefined();
  });

  it('s3 reads the object store from S3_* with @cloudai/object-store’s rules', () => {
    const env = parseEnv(Env, {
      STORAGE_BACKEND: 's3',
      S3_ENDPOINT: 'http://127.0.0.1:7070',
      S3_BUCKET: 'outputs',
      S3_PREFIX: 'team/cloudai',
    });
    expect(env.objectStore).toEqual({
      endpoint: 'http://127.0.0.1:7070',
      bucket: 'outputs',
      prefix: 'team/cloudai/',
      region: 'us-east-1',
      forcePathStyle: true,
    });
    expect(parseEnv(Env, { STORAGE_BACKEND: 's3', S3_BUCKET: 'outputs', S3_REGION: 'eu-west-1' }).objectStore).toMatchObject({
      endpoint: undefined,
      region: 'eu-west-1',
      forcePathStyle: false,
    });
  });

  it('names the variable that is missing or wrong', () => {
    expect(() => parseEnv(Env, { STORAGE_BACKEND: 'disk' })).toThrow(/STORAGE_BACKEND/);
    expect(() => parseEnv(Env, { STORAGE_BACKEND: 's3' })).toThrow(/S3_BUCKET: is required with STORAGE_BACKEND=s3/);
    expect(() => parseEnv(Env, { STORAGE_BACKEND: 's3', S3_BUCKET: 'Bad_Bucket' })).toThrow(/S3_BUCKET: expected a bucket name/);
    expect(() => parseEnv(Env, { STORAGE_BACKEND: 's3', S3_BUCKET: 'ok-bucket', S3_PREFIX: '/abs' })).toThrow(/S3_PREFIX: expected a relative key prefix/);
    expect(() => parseEnv(Env, { STORAGE_BACKEND: 's3', S3_BUCKET: 'ok-bucket', S3_FORCE_PATH_STYLE: 'maybe' })).toThrow(/S3_FORCE_PATH_STYLE/);
    expect(() => parseEnv(Env, { STORAGE_BACKEND: 's3', S3_BUCKET: 'ok-bucket', S3_ENDPOINT: 'http://s3.internal:9000' })).toThrow(
      /S3_ENDPOINT: refusing plain http to s3\.internal:9000/,
    );
    expect(
      parseEnv(Env, { STORAGE_BACKEND: 's3', S3_BUCKET: 'ok-bucket', S3_ENDPOINT: 'http://s3.internal:9000', CLOUDAI_ALLOW_INSECURE: 'true' })
        .objectStore?.endpoint,
    ).toBe('http://s3.internal:9000');
  });
});
