/** The two streams of a task's output, in the order the CLI prints them. */
export const LOG_STREAMS = ['stdout', 'stderr'] as const;
export type LogStreamName = (typeof LOG_STREAMS)[number];
