#!/usr/bin/env node
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { readCodeCache, writeCodeCache } from './code-cache-files.js';
import { setRuntimeFlags } from './v8-flags.js';

// The `cloudai` bin. It runs the CLI's bundle (dist/cloudai.cjs, made by
// bundle.mjs), compiled with V8's code cache for it. Compiling JavaScript is
// most of a cold start; Node's own compile cache stores only what V8
// compiles before a module runs, while the cache made here after a run also
// holds every function that run compiled (grpc-js, zod, commander, the
// command). This file imports only Node's built-in modules.

interface Bundle {
  run(argv: string[]): Promise<number>;
  masterContacted(): boolean;
}

const BUNDLE = join(dirname(fileURLToPath(import.meta.url)), 'cloudai.cjs');
const CACHE_SUFFIX = '.v8cache';

/** The user's own cache folder (see code-cache-files.ts for what is trusted there). */
function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cloudai', 'code-cache');
}

function load(): { bundle: Bundle; saveCache: () => void } {
  const require = createRequire(BUNDLE);
  // Node maps stack traces through the bundle's source map only for modules it loads itself.
  if (process.sourceMapsEnabled) return { bundle: require(BUNDLE) as Bundle, saveCache: () => undefined };
  const source = readFileSync(BUNDLE, 'utf8');
  // V8 checks a cache against its version and flags but only the length of
  // the source: the name carries a hash of the source itself.
  const key = createHash('sha256').update(process.version).update(process.execArgv.join(' ')).update(source).digest('hex').slice(0, 32);
  const dir = cacheDir();
  // The cache of a run that called the master, else one of a run that did not (see master-contact.ts).
  const full = join(dir, `${key}${CACHE_SUFFIX}`);
  const local = join(dir, `${key}.local${CACHE_SUFFIX}`);
  let cachedData = readCodeCache(dir, full);
  const loadedFull = cachedData !== undefined;
  cachedData ??= readCodeCache(dir, local);
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: BUNDLE, cachedData });
  const loaded = { exports: {} as Bundle };
  (script.runInThisContext() as (...args: unknown[]) => void).call(loaded.exports, loaded.exports, require, loaded, BUNDLE, dirname(BUNDLE));
  const saveCache = () => {
    const usable = cachedData !== undefined && !script.cachedDataRejected;
    const contacted = loaded.exports.masterContacted();
    if (usable && (loadedFull || !contacted)) return;
    const file = contacted ? full : local;
    try {
      writeCodeCache(dir, file, CACHE_SUFFIX, script.createCachedData());
    } catch {
      // Only the next start is slower without it (a read-only home, say).
    }
  };
  return { bundle: loaded.exports, saveCache };
}

// Before the bundle is compiled: the code cache is made and checked under these flags (see v8-flags.ts).
setRuntimeFlags();
const { bundle, saveCache } = load();
// Setting exitCode instead of calling process.exit lets piped stdout drain.
process.exitCode = await bundle.run(process.argv);
// After the run, so the cache holds what it compiled.
saveCache();
