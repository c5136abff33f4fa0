// Sizes every app must agree on: one side sends, the other refuses beyond them.

/** Largest log chunk a worker may send; the master refuses bigger ones, so the worker splits output at this size. */
export const MAX_LOG_CHUNK_BYTES = 256 * 1024;

/** Largest data part of an output upload or download message (the contract's 1 MiB). */
export const MAX_DATA_CHUNK_BYTES = 1024 * 1024;

/** Longest output file path, in UTF-8 bytes: PATH_MAX on Linux, so any stored file can be opened. */
export const MAX_OUTPUT_PATH_BYTES = 4096;

/** Longest single path segment, in UTF-8 bytes: NAME_MAX on the filesystems outputs land on. */
export const MAX_PATH_SEGMENT_BYTES = 255;

/**
 * Longest numbered line of a task's log, in bytes: a longer one is cut into
 * pieces of this size, so that a log without newlines cannot make one line
 * without bound. Every reader that numbers lines (the web app's pages and
 * search, the console following a log) cuts the same way.
 */
export const MAX_LOG_LINE_BYTES = 64 * 1024;
