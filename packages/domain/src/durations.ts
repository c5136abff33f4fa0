const DURATION_UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+[smhd])+$/;
const DURATION_PART = /(\d+)([smhd])/g;
// A date at least; Date.parse alone accepts loose forms like "1" or "May 5".
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Milliseconds in a duration like 30s, 10m, 2h, 1d or 1h30m; undefined when `text` is not one. */
export function durationMs(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(DURATION_PART)) ms += Number(n) * DURATION_UNIT_MS[unit as keyof typeof DURATION_UNIT_MS];
  return ms;
}

/**
 * A "since" as people write it: a duration back from `now` (30s, 10m, 2h,
 * 1d, 1h30m) or an ISO time; undefined when `text` is neither.
 */
export function parseSince(text: string, now: Date): Date | undefined {
  const trimmed = text.trim();
  const ms = durationMs(trimmed);
  if (ms !== undefined) return new Date(now.getTime() - ms);
  const time = ISO_TIME.test(trimmed) ? new Date(trimmed) : undefined;
  return time && !Number.isNaN(time.getTime()) ? time : undefined;
}
