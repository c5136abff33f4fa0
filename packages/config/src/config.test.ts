import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, dialAddressList, envBoolean, envNumber, hostPort, logLevel, metricsEnv, parseEnv } from './index.js';

describe('parseEnv', () => {
  const Env = z.object({
    PORT: envNumber({ min: 1, max: 65535, int: true }).default(8080),
    NAME: z.string().min(1),
    DEBUG: envBoolean.default(false),
  });

  it('parses the variables the schema names, with defaults for unset ones', () => {
    expect(parseEnv(Env, { NAME: 'svc', PATH: '/usr/bin' })).toEqual({ PORT: 8080, NAME: 'svc', DEBUG: false });
  });

  it('treats an empty variable as unset: the default applies, a required one is missing', () => {
    expect(parseEnv(Env, { NAME: 'svc', PORT: '', DEBUG: '' })).toEqual({ PORT: 8080, NAME: 'svc', DEBUG: false });
    expect(() => parseEnv(Env, { NAME: '' })).toThrow(/^invalid configuration: NAME: /);
  });

  it('names every bad variable and its rule in one ConfigError', () => {
    let caught: unknown;
    try {
      parseEnv(Env, { PORT: '70000', DEBUG: 'maybe' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).name).toBe('ConfigError');
    const message = (caught as ConfigError).message;
    expect(message).toMatch(/^invalid configuration: /);
    expect(message).toContain('PORT: must be <= 65535');
    expect(message).toContain('NAME: ');
    expect(message).toContain('DEBUG: expected true or false, got "maybe"');
    expect(message.split('; ')).toHaveLength(3);
  });

  it('reads process.env when given no source', () => {
    const key = `CLOUDAI_CONFIG_TEST_${process.pid}`;
    process.env[key] = 'from-process';
    try {
      expect(parseEnv(z.object({ [key]: z.string() }))).toEqual({ [key]: 'from-process' });
    } finally {
      delete process.env[key];
    }
  });
});

describe('envBoolean', () => {
  it.each(['true', '1', 'yes', 'on', ' TRUE ', 'On'])('reads %j as true', (s) => {
    expect(envBoolean.parse(s)).toBe(true);
  });

  it.each(['false', '0', 'no', 'off', 'False', ' NO '])('reads %j as false', (s) => {
    expect(envBoolean.parse(s)).toBe(false);
  });

  it.each(['maybe', '', '2', 'truthy'])('refuses %j instead of guessing', (s) => {
    const result = envBoolean.safeParse(s);
    expect(result.error?.issues[0]?.message).toBe(`expected true or false, got ${JSON.stringify(s)}`);
  });
});

describe('hostPort', () => {
  it.each(['127.0.0.1:50051', 'localhost:0', 'worker-1.example.com:65535', '[::1]:8080', '[::]:0'])('accepts %s', (s) => {
    expect(hostPort.parse(s)).toBe(s);
  });

  it.each(['localhost', ':50051', 'localhost:', 'localhost:65536', 'localhost:123456', 'a b:80', '::1:80', 'host:8o'])(
    'refuses %j',
    (s) => {
      expect(hostPort.safeParse(s).error?.issues[0]?.message).toBe('expected host:port, e.g. 127.0.0.1:50051');
    },
  );
});

describe('dialAddressList', () => {
  it('takes one address or several, separated by commas, spaces around them ignored', () => {
    expect(dialAddressList.parse('127.0.0.1:50052')).toEqual(['127.0.0.1:50052']);
    expect(dialAddressList.parse('storage-a:50052, storage-b:50052')).toEqual(['storage-a:50052', 'storage-b:50052']);
  });

  it.each([
    ['a:1,', 'entry 2 (""): expected host:port, e.g. 127.0.0.1:50051'],
    ['a:1,b', 'entry 2 ("b"): expected host:port, e.g. 127.0.0.1:50051'],
    ['a:0', 'entry 1 ("a:0"): must name a real port (0 only makes sense for listening)'],
    ['a:1,b:2,a:1', 'entry 3 ("a:1") repeats entry 1'],
  ])('refuses %j, naming the entry', (s, message) => {
    expect(dialAddressList.safeParse(s).error?.issues.map((i) => i.message)).toEqual([message]);
  });

  it('names the variable in parseEnv\'s error', () => {
    expect(() => parseEnv(z.object({ CLOUDAI_STORAGE: dialAddressList }), { CLOUDAI_STORAGE: 'a:1,nope' })).toThrow(
      'invalid configuration: CLOUDAI_STORAGE: entry 2 ("nope"): expected host:port, e.g. 127.0.0.1:50051',
    );
  });
});

describe('envNumber', () => {
  it('coerces strings, with both bounds inclusive', () => {
    const n = envNumber({ min: 0.5, max: 4 });
    expect(n.parse('0.5')).toBe(0.5);
    expect(n.parse('4')).toBe(4);
    expect(n.parse('2.25')).toBe(2.25);
    expect(n.safeParse('0.49').error?.issues[0]?.message).toBe('must be >= 0.5');
    expect(n.safeParse('4.01').error?.issues[0]?.message).toBe('must be <= 4');
  });

  it('refuses fractions when asked for whole numbers', () => {
    const n = envNumber({ int: true });
    expect(n.parse('3')).toBe(3);
    expect(n.safeParse('1.5').error?.issues[0]?.message).toBe('expected a whole number');
  });

  it('refuses what is not a finite number', () => {
    for (const s of ['abc', 'Infinity', '-Infinity', '1e400']) {
      expect(envNumber().safeParse(s).success, s).toBe(false);
    }
  });
});

describe('logLevel', () => {
  it('accepts the pino levels and silent, nothing else', () => {
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']) {
      expect(logLevel.parse(level)).toBe(level);
    }
    expect(logLevel.safeParse('verbose').success).toBe(false);
  });
});

describe('metricsEnv', () => {
  const Env = z.object(metricsEnv('127.0.0.1:9451'));
  const Off = z.object(metricsEnv(null));

  it('defaults to the address given, or to off; "off" turns metrics off, and an empty variable counts as unset', () => {
    expect(parseEnv(Env, {})).toEqual({ METRICS_ADDR: '127.0.0.1:9451' });
    expect(parseEnv(Env, { METRICS_ADDR: '' })).toEqual({ METRICS_ADDR: '127.0.0.1:9451' });
    expect(parseEnv(Env, { METRICS_ADDR: 'off' })).toEqual({ METRICS_ADDR: null });
    expect(parseEnv(Env, { METRICS_ADDR: '0.0.0.0:0' })).toEqual({ METRICS_ADDR: '0.0.0.0:0' });
    expect(parseEnv(Off, {})).toEqual({ METRICS_ADDR: null });
    expect(parseEnv(Off, { METRICS_ADDR: '' })).toEqual({ METRICS_ADDR: null });
    expect(parseEnv(Off, { METRICS_ADDR: '[::1]:9454' })).toEqual({ METRICS_ADDR: '[::1]:9454' });
  });

  it.each(['on', '9451', 'localhost', 'localhost:99999'])('refuses METRICS_ADDR=%j, naming the forms it takes', (value) => {
    expect(() => parseEnv(Env, { METRICS_ADDR: value })).toThrow(
      'invalid configuration: METRICS_ADDR: expected host:port (e.g. 127.0.0.1:9451) or off',
    );
  });

  it('reads METRICS_TOKEN_FILE at parse, without the whitespace around the token, and never quotes it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cloudai-config-metrics-'));
    try {
      const file = (name: string, text: string) => {
        const path = join(dir, name);
        writeFileSync(path, text);
        return path;
      };
      const good = file('token', '  s3cret-token \n');
      expect(parseEnv(Env, { METRICS_TOKEN_FILE: good }).METRICS_TOKEN_FILE).toEqual({ path: good, token: 's3cret-token' });
      const empty = file('empty', '\n');
      expect(() => parseEnv(Env, { METRICS_TOKEN_FILE: empty })).toThrow(`invalid configuration: METRICS_TOKEN_FILE: ${empty} is empty`);
      const two = file('two', 's3cret one\n');
      const problem = (() => {
        try {
          parseEnv(Env, { METRICS_TOKEN_FILE: two });
          return '';
        } catch (err) {
          return (err as Error).message;
        }
      })();
      expect(problem).toBe(`invalid configuration: METRICS_TOKEN_FILE: ${two} holds more than one word; a token has no spaces`);
      expect(problem).not.toContain('s3cret');
      const missing = join(dir, 'missing');
      expect(() => parseEnv(Env, { METRICS_TOKEN_FILE: missing })).toThrow(
        `invalid configuration: METRICS_TOKEN_FILE: cannot read the file: ENOENT: no such file or directory, open '${missing}'`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
