import { isAbsolute, resolve } from 'node:path';
import { configPath, PROFILE_NAME_PATTERN, PROFILE_NAME_RULE, readConfig, type Config, type Profile } from './config-file.js';
import { CliError, ExitCode, loginHint, UsageError } from './errors.js';
import { MasterAddress, parseOptions } from './options.js';
import { tokenProblem } from './token-format.js';

// Where the CLI connects and with which token. Each setting is taken from the
// first of: its flag, its environment variable, the selected profile of the
// config file, a default. Every value remembers where it came from, so a bad
// one is reported by its source (never by its value, for a token).

export const DEFAULT_MASTER = '127.0.0.1:50051';
export const DEFAULT_PROFILE = 'default';

/** The global options, as commander hands them over (absent when not given). */
export interface GlobalFlags {
  master?: string;
  token?: string;
  profile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** A value and where it came from: "--token", "CLOUDAI_TOKEN", `profile "work" in <file>`. */
export interface Setting {
  value: string;
  source: string;
}

export interface ProfileSelection {
  /** the config file, whether or not it exists */
  path: string;
  config: Config | undefined;
  name: string;
  /** named by --profile or CLOUDAI_PROFILE, rather than the file's current one or the default */
  explicit: boolean;
  /** undefined: not in the file (yet) */
  profile: Profile | undefined;
}

/** Everything a call to the master needs. */
export interface Connection {
  address: string;
  token: Setting;
  /** the CA file that signs the master's certificate; undefined: plaintext */
  tlsCa: Setting | undefined;
  /** a client certificate and its key, for a master that requires one (mTLS) */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
}

/** An empty variable counts as unset, as for every other cloudai setting. */
function fromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function profileName(value: string, source: string): string {
  if (!PROFILE_NAME_PATTERN.test(value)) {
    throw new UsageError(`${source} must be ${PROFILE_NAME_RULE}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Reads the config file and picks the profile: --profile, CLOUDAI_PROFILE, the file's current one, "default". */
export function selectProfile(flags: GlobalFlags, env: NodeJS.ProcessEnv): ProfileSelection {
  const named =
    flags.profile !== undefined
      ? profileName(flags.profile, '--profile')
      : fromEnv(env, 'CLOUDAI_PROFILE') !== undefined
        ? profileName(fromEnv(env, 'CLOUDAI_PROFILE') ?? '', 'CLOUDAI_PROFILE')
        : undefined;
  const path = configPath(env);
  const config = readConfig(path);
  const name = named ?? config?.current ?? DEFAULT_PROFILE;
  // Own keys only: a profile called "constructor" must not find Object's.
  const profile = config !== undefined && Object.hasOwn(config.profiles, name) ? config.profiles[name] : undefined;
  return { path, config, name, explicit: named !== undefined, profile };
}

function profileSource(selection: ProfileSelection): string {
  return `profile ${JSON.stringify(selection.name)} in ${selection.path}`;
}

/** The master's address: --master, CLOUDAI_MASTER, the profile's, 127.0.0.1:50051. */
export function masterOf(flags: GlobalFlags, env: NodeJS.ProcessEnv, selection: ProfileSelection): string {
  if (flags.master !== undefined) return parseOptions(MasterAddress('--master'), flags.master);
  const variable = fromEnv(env, 'CLOUDAI_MASTER');
  if (variable !== undefined) return parseOptions(MasterAddress('CLOUDAI_MASTER'), variable);
  const saved = selection.profile?.master;
  if (saved !== undefined) return parseOptions(MasterAddress(`the master of ${profileSource(selection)}`), saved);
  return DEFAULT_MASTER;
}

/** Fails, without repeating it, on anything that cannot be a cloudai token. */
export function checkToken(token: Setting): Setting {
  const problem = tokenProblem(token.value);
  if (problem !== undefined) throw new UsageError(`the token from ${token.source} is not a cloudai token: ${problem}`);
  return token;
}

/** A token given for this run: --token, else CLOUDAI_TOKEN. */
export function givenToken(flags: GlobalFlags, env: NodeJS.ProcessEnv): Setting | undefined {
  if (flags.token !== undefined) return checkToken({ value: flags.token, source: '--token' });
  const variable = fromEnv(env, 'CLOUDAI_TOKEN');
  if (variable !== undefined) return checkToken({ value: variable, source: 'CLOUDAI_TOKEN' });
  return undefined;
}

/** The token: --token, CLOUDAI_TOKEN, the profile's; undefined when there is none. */
export function tokenOf(flags: GlobalFlags, env: NodeJS.ProcessEnv, selection: ProfileSelection): Setting | undefined {
  const given = givenToken(flags, env);
  if (given !== undefined) return given;
  const saved = selection.profile?.token;
  if (saved !== undefined) return checkToken({ value: saved, source: profileSource(selection) });
  return undefined;
}

/** The CA file: --tls-ca, else CLOUDAI_TLS_CA (made absolute), else the profile's. */
export function tlsCaOf(flags: GlobalFlags, env: NodeJS.ProcessEnv, selection: ProfileSelection): Setting | undefined {
  if (flags.tlsCa !== undefined) {
    if (flags.tlsCa === '') throw new UsageError('--tls-ca must not be empty');
    return { value: resolve(flags.tlsCa), source: '--tls-ca' };
  }
  const variable = fromEnv(env, 'CLOUDAI_TLS_CA');
  if (variable !== undefined) return { value: resolve(variable), source: 'CLOUDAI_TLS_CA' };
  const saved = selection.profile?.tlsCa;
  if (saved === undefined) return undefined;
  const source = profileSource(selection);
  if (!isAbsolute(saved)) throw new UsageError(`the tlsCa of ${source} must be an absolute path`);
  return { value: saved, source };
}

function hintFor(selection: ProfileSelection): string {
  return loginHint(selection.explicit || selection.name !== DEFAULT_PROFILE ? selection.name : undefined);
}

/**
 * The master, token and CA for a command that calls the master. With no
 * token anywhere it fails with one line that says how to log in.
 */
export function resolveConnection(flags: GlobalFlags, env: NodeJS.ProcessEnv): Connection {
  const selection = selectProfile(flags, env);
  if (selection.profile === undefined && (selection.explicit || selection.config?.current !== undefined)) {
    throw new CliError(
      `not logged in: profile ${JSON.stringify(selection.name)} is not in ${selection.path}; ${hintFor(selection)}`,
      ExitCode.FAILED,
    );
  }
  const address = masterOf(flags, env, selection);
  const token = tokenOf(flags, env, selection);
  if (token === undefined) throw new CliError(`not logged in: ${hintFor(selection)}`, ExitCode.FAILED);
  return {
    address,
    token,
    tlsCa: tlsCaOf(flags, env, selection),
    tlsCert: flags.tlsCert ?? fromEnv(env, 'CLOUDAI_TLS_CERT'),
    tlsKey: flags.tlsKey ?? fromEnv(env, 'CLOUDAI_TLS_KEY'),
  };
}
