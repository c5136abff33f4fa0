// Bundles the CLI (src/cli.ts and everything it imports, node_modules
// included) into one CommonJS file, dist/cloudai.cjs, which the `cloudai`
// bin (src/main.ts, dist/main.js) runs with a V8 code cache. Resolving and
// compiling hundreds of files was most of a cold start. Each command's
// module is still evaluated only when that command runs: esbuild turns the
// command table's import() calls into lazy initialisers. The source map
// points back at src/ and the packages.
import { chmodSync, readFileSync } from 'node:fs';
import { build } from 'esbuild';

const here = new URL('.', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', here), 'utf8'));

/**
 * grpc-js loads @grpc/proto-loader (and protobufjs) only for channelz and
 * ORCA, which the CLI never serves: leave them out rather than compile them
 * at every start. A call that does reach them fails saying so.
 */
const noProtoLoader = {
  name: 'no-proto-loader',
  setup(b) {
    b.onResolve({ filter: /^@grpc\/proto-loader$/ }, () => ({ path: 'proto-loader', namespace: 'cloudai-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'cloudai-stub' }, () => ({
      loader: 'js',
      contents:
        "const missing = () => { throw new Error('@grpc/proto-loader is not part of the cloudai CLI bundle'); };\n" +
        'module.exports = { loadSync: missing, fromJSON: missing };\n',
    }));
  },
};

await build({
  absWorkingDir: new URL('.', here).pathname,
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cloudai.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node24',
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  define: { CLOUDAI_CLI_VERSION: JSON.stringify(pkg.version) },
  plugins: [noProtoLoader],
  logLevel: 'warning',
});
chmodSync(new URL('dist/main.js', here), 0o755);
