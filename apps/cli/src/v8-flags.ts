import { setFlagsFromString } from 'node:v8';

/**
 * The V8 flags the `cloudai` bin sets at run time, before it compiles its
 * bundle. It has no command line of its own to put flags on, and V8 stamps
 * a code cache with the flags in force when the cache is made: every flag
 * the run may set later must be set here already, or the cache it saves is
 * refused at the next start.
 *
 * - `--semi-space-growth-factor=1` keeps the young generation at its starting
 *   size. Node 24 lets it double after each busy scavenge, up to 64 MiB, all
 *   of it resident: a `cloudai download` streaming 1 MiB chunks grew it to
 *   16 MiB for garbage that dies young anyway. The CLI allocates little
 *   JavaScript, so the more frequent scavenges cost nothing measurable, and
 *   the download's peak RSS falls by ~4 MiB. (The size limit itself,
 *   `--max-semi-space-size`, which the apps take on their command line,
 *   cannot change after start; the growth factor is read at every resize.)
 * - `--expose-gc`: what @cloudai/rpc's youngCollector sets when a download
 *   first collects (it reaches `gc` through a new context, so `gc` is still
 *   not a global here).
 */
export function setRuntimeFlags(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--expose-gc');
}
