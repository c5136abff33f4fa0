/**
 * How every app process is run, here, by scripts/start-cluster.mjs and in
 * the images under docker/ (each keeps its own copy of these values).
 *
 * - `--max-semi-space-size=2` (MiB): V8's young generation otherwise grows to
 *   tens of MiB under a log burst or an upload, all of it resident, for
 *   garbage that dies young anyway; the smaller one is scavenged more often
 *   at no measurable cost to throughput (issue 13's RSS targets).
 * - `MALLOC_MMAP_THRESHOLD_=65536`: glibc serves allocations of 64 KiB and
 *   more (chunk and batch buffers) from mmap, so freeing one returns its
 *   pages to the OS instead of leaving holes in the heap that RSS keeps.
 */
export const APP_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

export const APP_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '65536' };

/** The allocator's env for an app: the defaults above, under any MALLOC_* set for this process (to try others). */
export function appMallocEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const own = Object.entries(env).filter((e): e is [string, string] => e[0].startsWith('MALLOC_') && e[1] !== undefined);
  return { ...APP_MALLOC_ENV, ...Object.fromEntries(own) };
}
