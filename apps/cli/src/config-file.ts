import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { CliError, ExitCode } from './errors.js';
import { redactTokens } from './token-format.js';

// The CLI's config file: named profiles, each a master address, a token and
// optionally the CA that signs the master's certificate. It holds secrets, so
// it is written 0600 in a 0700 folder, and one that other users can read is
// refused rather than used.

export const PROFILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const PROFILE_NAME_RULE = '1-64 letters, digits or "._-" characters, starting with a letter or digit';

// Loose objects: keys a newer cloudai wrote survive this one rewriting the file.
const Profile = z.looseObject({
  master: z.string().optional(),
  token: z.string().optional(),
  tlsCa: z.string().optional(),
});
export type Profile = z.output<typeof Profile>;

const Config = z.looseObject({
  current: z.string().optional(),
  profiles: z.record(z.string(), Profile).default({}),
});
export type Config = z.output<typeof Config>;

/** `${XDG_CONFIG_HOME:-~/.config}/cloudai/config.json`; a relative XDG_CONFIG_HOME is ignored, as the XDG spec says. */
export function configPath(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'cloudai', 'config.json');
}

function configError(message: string): CliError {
  return new CliError(message, ExitCode.USAGE);
}

/**
 * JSON.parse's reason without the excerpt of the text it quotes (`, "…" is
 * not valid JSON`, `, ..."…"... is not valid JSON`): that text may hold a token.
 */
function jsonProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const excerpt = message.search(/,? *(\.\.\.)?"/);
  return redactTokens(excerpt < 0 ? message : message.slice(0, excerpt));
}

function issueText(issue: z.core.$ZodIssue): string {
  const where = issue.path.map(String).join('.');
  return where === '' ? issue.message : `${where}: ${issue.message}`;
}

/** The file at `path`, or undefined when there is none; a file that is open to others or malformed is an error. */
export function readConfig(path: string): Config | undefined {
  const cannotRead = (err: unknown) => configError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  let stat: Stats;
  try {
    stat = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw cannotRead(err);
  }
  if (!stat.isFile()) throw configError(`${path} is not a regular file`);
  if ((stat.mode & 0o077) !== 0) {
    const octal = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw configError(`other users can access ${path} (mode ${octal}), which holds secrets: run chmod 600 ${path}`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw cannotRead(err);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw configError(`${path} is not valid JSON: ${jsonProblem(err)}`);
  }
  const parsed = Config.safeParse(json);
  if (!parsed.success) {
    throw configError(`${path} is malformed: ${parsed.error.issues[0] ? issueText(parsed.error.issues[0]) : 'invalid'}`);
  }
  const { current, profiles } = parsed.data;
  for (const name of [...Object.keys(profiles), ...(current === undefined ? [] : [current])]) {
    if (!PROFILE_NAME_PATTERN.test(name)) {
      throw configError(`${path} is malformed: profile name ${JSON.stringify(name)} must be ${PROFILE_NAME_RULE}`);
    }
  }
  return parsed.data;
}

/**
 * Replaces the file at `path` in one step (a reader never sees half of it),
 * 0600 in a 0700 folder.
 */
export function writeConfig(path: string, config: Config): void {
  const folder = dirname(path);
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    // An existing folder keeps its mode through mkdir; this one holds secrets.
    chmodSync(folder, 0o700);
  } catch (err) {
    throw new CliError(`cannot create ${folder}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, ExitCode.FAILED);
  }
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw new CliError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, ExitCode.FAILED);
  }
}
