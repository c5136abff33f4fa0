// Set by the bundler (apps/cli/bundle.mjs) from package.json: the bundle
// carries its own version and reads no file to print it.
declare const CLOUDAI_CLI_VERSION: string | undefined;

/** The CLI's own version. */
export const CLI_VERSION = typeof CLOUDAI_CLI_VERSION === 'string' ? CLOUDAI_CLI_VERSION : '0.0.0-unbundled';
