/**
 * How every app process is run, here, by scripts/start-cluster.mjs and in
 * the images under docker/ (each keeps its own copy of these values).
 *
 * - `--max-semi-space-size=2` (MiB): V8's young generation otherwise grows to
 *   tens of MiB under a log burst or an upload, all of it resident, for
 *   garbage that dies young anyway; the smaller one is scavenged more often
 *   at no measurable cost to throughput (issue 13's RSS targets).
 * - `MALLOC_MMAP_THRESHOLD_=4194304` (4 MiB): glibc serves 1 MiB chunk and
 *   batch buffers from its heap, where a freed one is mostly reused by the
 *   next, and only larger allocations from mmap. At 64 KiB (the setting
 *   before) every chunk was a fresh mmap, faulted in page by page and
 *   unmapped when freed: storage spent half its CPU of a 1 GiB upload there
 *   (4.2 s against 2.0 s; 271 against 500–600 MB/s in the runs where it did
 *   not). Peak RSS measured the same at both on the fs backend: the
 *   upload's growth (worker and storage release their chunks as soon as
 *   they are done with them, @cloudai/rpc's releaseChunk), and the master's
 *   under a log burst and 20 followers, whose buffers wait for the collector
 *   either way. On the s3 backend storage grew more (63–67 MiB against 56
 *   in the runs measured). What the heap frees below its top stays resident
 *   until reused, where mmap gave it back at once: an idle app may sit
 *   nearer its peak than before.
 */
export const APP_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

export const APP_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '4194304' };

/** The allocator's env for an app: the defaults above, under any MALLOC_* set for this process (to try others). */
export function appMallocEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const own = Object.entries(env).filter((e): e is [string, string] => e[0].startsWith('MALLOC_') && e[1] !== undefined);
  return { ...APP_MALLOC_ENV, ...Object.fromEntries(own) };
}
