import { ClientError, clientErrorKind, Status } from '@cloudai/rpc/client';
import { clean } from './format.js';
import { redactTokens } from './token-format.js';

/** What the process exit code means; listed in `cloudai --help`. */
export const ExitCode = {
  OK: 0,
  /** the operation failed: the master refused it (not logged in, too), or the task did not succeed */
  FAILED: 1,
  /** bad command line, environment or config file, or input the master rejected as invalid */
  USAGE: 2,
  /** the master could not be reached or did not answer in time */
  UNREACHABLE: 3,
  /** `wait --timeout` elapsed before the task finished */
  WAIT_TIMEOUT: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one line and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** Bad command-line input; nothing has been sent to the master. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.USAGE);
    this.name = 'UsageError';
  }
}

/** How to log in: the tail of every "not logged in" and "not authenticated" line. */
export function loginHint(profile?: string): string {
  return `run \`cloudai login${profile === undefined ? '' : ` --profile ${profile}`}\` (or set CLOUDAI_TOKEN)`;
}

/** The server's message, inert for the terminal and with any token in it hidden. */
export function serverDetails(err: ClientError): string {
  return redactTokens(clean(err.details || Status[err.code] || 'unknown error'));
}

/**
 * Turns a gRPC failure of a call to the master into one line that says what
 * to do about it. Server messages already name the field and the rule.
 */
export function fromClientError(err: ClientError, master: string): CliError {
  const details = serverDetails(err);
  switch (clientErrorKind(err)) {
    case 'unavailable':
      return (
        connectionSetupFailure(err, master) ??
        new CliError(
          `cannot reach the master at ${master} (is it running? set --master or CLOUDAI_MASTER)`,
          ExitCode.UNREACHABLE,
          { cause: err },
        )
      );
    case 'timeout':
      return new CliError(`the master at ${master} did not answer in time`, ExitCode.UNREACHABLE, { cause: err });
    case 'invalid':
      return new CliError(details, ExitCode.USAGE, { cause: err });
    case 'unauthenticated':
      return new CliError(`not authenticated: ${details}; ${loginHint()}`, ExitCode.FAILED, { cause: err });
    case 'permission-denied':
      return new CliError(`permission denied: ${details}`, ExitCode.FAILED, { cause: err });
    case 'unimplemented':
      return new CliError(`the master at ${master} does not support this command (${details})`, ExitCode.FAILED, {
        cause: err,
      });
    case 'internal':
      return new CliError(`the master failed: ${details}`, ExitCode.FAILED, { cause: err });
    default:
      // not-found, failed-precondition, already-exists, exhausted, aborted, cancelled: the server's words say it
      return new CliError(details, ExitCode.FAILED, { cause: err });
  }
}

/**
 * grpc-js reports every failure to set a connection up as UNAVAILABLE; only
 * its text (OpenSSL's reason) tells a TLS mismatch from a master that is
 * down, and each mismatch has its own fix.
 */
function connectionSetupFailure(err: ClientError, master: string): CliError | undefined {
  // "No connection established. Last error: <reason> (<time>). Resolution note: …"
  const reason = (/Last error: (?:Error: )?(.*?)(?:\s*\(\d{4}-\d\d-\d\dT[^)]*\))?\.?\s*Resolution note/s.exec(err.details)?.[1] ?? err.details).trim();
  const fail = (message: string) => new CliError(message, ExitCode.UNREACHABLE, { cause: err });
  if (/wrong version number/.test(reason)) {
    return fail(
      `the master at ${master} answered in plaintext, not TLS: it has no TLS_CERT_FILE, or --tls-ca (CLOUDAI_TLS_CA) is not meant for it`,
    );
  }
  if (/certificate required/.test(reason)) {
    return fail(
      `the master at ${master} requires a client certificate (mTLS): pass --tls-cert and --tls-key (CLOUDAI_TLS_CERT, CLOUDAI_TLS_KEY)`,
    );
  }
  if (/certificate|altnames/i.test(reason)) {
    // Node adds advice about --use-system-ca after a ";": not what a cloudai user should do.
    const why = clean(reason.split(';')[0] ?? reason);
    return fail(`the certificate of the master at ${master} does not verify against --tls-ca (CLOUDAI_TLS_CA): ${why}`);
  }
  if (/^Failed to connect$/.test(reason)) {
    return fail(
      `the master at ${master} closed the connection while it was being set up: it may serve TLS (pass --tls-ca with its CA) ` +
        'or refuse the client certificate (--tls-cert must be signed by a CA it trusts)',
    );
  }
  return undefined;
}

/** The one line and exit code for anything a command threw. Never a stack trace. */
export function describeError(err: unknown, master: string): { line: string; exitCode: ExitCode } {
  const cliError =
    err instanceof CliError
      ? err
      : err instanceof ClientError
        ? fromClientError(err, master)
        : new CliError(err instanceof Error ? err.message : String(err), ExitCode.FAILED);
  // Token-shaped text never reaches the terminal, whichever way it got into a message.
  const firstLine = redactTokens(cliError.message.split('\n')[0] ?? '');
  return { line: `error: ${firstLine}`, exitCode: cliError.exitCode };
}
