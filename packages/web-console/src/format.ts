// How values read on screen.

export { formatBytes } from '@cloudai/domain';

/** "1h 02m", "3m 04s", "12s", "850 ms" */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** Milliseconds from `from` to `to` (or now), or NaN when `from` is unset. */
export function between(from: string | null, to: string | null, now = Date.now()): number {
  if (!from) return NaN;
  return (to ? Date.parse(to) : now) - Date.parse(from);
}

/** A time in the browser's locale, or "-". */
export function formatTime(iso: string | null): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '-' : d.toLocaleString();
}

/** "12s ago" */
export function formatAge(iso: string | null, now = Date.now()): string {
  const ms = between(iso, null, now);
  return Number.isNaN(ms) ? '-' : `${formatDuration(Math.max(0, ms))} ago`;
}

export function formatNumber(n: number | null): string {
  if (n === null) return '-';
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}
