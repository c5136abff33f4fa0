import { tempDir, type TempDir } from '@cloudai/testing';
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configPath, readConfig, writeConfig } from './config-file.js';
import { modeOf, readConfigFile, writeConfigFile } from './testing/config-home.js';

let home: TempDir;

beforeEach(async () => {
  home = await tempDir('cloudai-config-file-');
});
afterEach(() => home.remove());

const TOKEN = `cai_${'a'.repeat(16)}_${'b'.repeat(43)}`;

describe('configPath', () => {
  it('is $XDG_CONFIG_HOME/cloudai/config.json, else ~/.config/cloudai/config.json', () => {
    expect(configPath({ XDG_CONFIG_HOME: '/x/conf', HOME: '/home/a' })).toBe('/x/conf/cloudai/config.json');
    expect(configPath({ HOME: '/home/a' })).toBe('/home/a/.config/cloudai/config.json');
    expect(configPath({ XDG_CONFIG_HOME: '', HOME: '/home/a' })).toBe('/home/a/.config/cloudai/config.json');
    // The XDG spec: a relative path in the variable is invalid and ignored.
    expect(configPath({ XDG_CONFIG_HOME: 'conf', HOME: '/home/a' })).toBe('/home/a/.config/cloudai/config.json');
  });
});

describe('writeConfig', () => {
  it('writes the file 0600 in a 0700 folder it creates', () => {
    const path = join(home.path, 'new', 'cloudai', 'config.json');
    writeConfig(path, { current: 'default', profiles: { default: { master: '127.0.0.1:1', token: TOKEN } } });
    expect(modeOf(path)).toBe(0o600);
    expect(modeOf(join(home.path, 'new', 'cloudai'))).toBe(0o700);
    expect(readConfig(path)).toEqual({ current: 'default', profiles: { default: { master: '127.0.0.1:1', token: TOKEN } } });
  });

  it('closes up a folder that others could enter, and leaves no temporary file behind', () => {
    const folder = join(home.path, 'cloudai');
    mkdirSync(folder, { mode: 0o755 });
    chmodSync(folder, 0o755);
    writeConfig(join(folder, 'config.json'), { profiles: {} });
    expect(modeOf(folder)).toBe(0o700);
    expect(readdirSync(folder)).toEqual(['config.json']);
  });

  it('keeps what it does not know of a file it rewrites', () => {
    writeConfigFile(home.path, { editor: 'vi', profiles: { default: { token: TOKEN, colour: 'blue' } } });
    const path = join(home.path, 'cloudai', 'config.json');
    const config = readConfig(path)!;
    config.profiles.lab = { master: '10.0.0.1:50051' };
    writeConfig(path, config);
    expect(readConfigFile(home.path)).toEqual({
      editor: 'vi',
      profiles: { default: { token: TOKEN, colour: 'blue' }, lab: { master: '10.0.0.1:50051' } },
    });
  });
});

describe('readConfig', () => {
  it('is undefined when there is no file', () => {
    expect(readConfig(join(home.path, 'cloudai', 'config.json'))).toBeUndefined();
  });

  it.each([0o640, 0o604, 0o660, 0o606])('refuses a file of mode %o', (mode) => {
    const path = writeConfigFile(home.path, { profiles: {} }, mode);
    expect(() => readConfig(path)).toThrow(`run chmod 600 ${path}`);
  });

  it('refuses a current profile whose name could not be saved', () => {
    const path = writeConfigFile(home.path, { current: 'constructor/x', profiles: {} });
    expect(() => readConfig(path)).toThrow(`${path} is malformed: profile name "constructor/x" must be`);
  });
});
