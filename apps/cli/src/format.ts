import type { TaskStatus } from '@cloudai/domain';

// Pure helpers for human output. Nothing here reads process state, so the
// caller decides whether colour is on (see shouldColor).

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function shouldColor(isTTY: boolean | undefined, env: NodeJS.ProcessEnv): boolean {
  return isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

const ANSI = { red: 31, green: 32, yellow: 33, cyan: 36, dim: 2 } as const;
export type Colour = keyof typeof ANSI;

const STATUS_COLOUR: Record<TaskStatus, Colour | undefined> = {
  QUEUED: 'dim',
  SCHEDULED: undefined,
  RUNNING: 'cyan',
  UPLOADING: 'cyan',
  SUCCEEDED: 'green',
  FAILED: 'red',
  CANCELLED: 'yellow',
  TIMED_OUT: 'red',
};

export function paint(text: string, colour: Colour | undefined, enabled: boolean): string {
  if (!enabled || colour === undefined) return text;
  return `\u001b[${ANSI[colour]}m${text}\u001b[0m`;
}

export function statusColour(status: TaskStatus | 'UNKNOWN'): Colour | undefined {
  return status === 'UNKNOWN' ? 'dim' : STATUS_COLOUR[status];
}

export function colorStatus(status: TaskStatus | 'UNKNOWN', enabled: boolean): string {
  return paint(status, statusColour(status), enabled);
}

// Strings from the master (reasons, names, images) reach the terminal; a stray
// escape sequence in them could rewrite what the user sees.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

/** Replaces control characters so untrusted text prints as one inert line. */
export function clean(text: string): string {
  return text.replace(CONTROL_CHARS, '?');
}

/** A table cell: its plain text (which sets the width) and an optional colour. */
export interface Cell {
  text: string;
  colour?: Colour | undefined;
}

/**
 * Left-aligned columns separated by two spaces. Widths come from the plain
 * text, so colour codes never skew the alignment.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly (Cell | string)[])[], colour = false): string {
  const cells = rows.map((row) => row.map((c) => (typeof c === 'string' ? { text: clean(c) } : { ...c, text: clean(c.text) })));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]?.text.length ?? 0)));
  const line = (row: readonly Cell[]) =>
    row
      .map((cell, i) => {
        const last = i === row.length - 1;
        const padded = last ? cell.text : cell.text.padEnd(widths[i] ?? 0);
        return cell.colour ? paint(cell.text, cell.colour, colour) + padded.slice(cell.text.length) : padded;
      })
      .join('  ');
  return [line(headers.map((text) => ({ text }))), ...cells.map(line)].join('\n');
}

/** "Key:   value" lines with the values aligned; an empty value makes a heading line ("Resources:"). */
export function formatKeyValues(pairs: readonly (readonly [string, string])[], indent = ''): string {
  const width = Math.max(...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => (v === '' ? `${indent}${k}:` : `${indent}${`${k}:`.padEnd(width)}  ${v}`)).join('\n');
}

/** "850ms", "42s", "3m 12s", "2h 5m", "3d 4h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m}m` : `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d ${h % 24}h`;
}

/** Coarse age for tables: one unit, like `kubectl get` ("12s", "5m", "3h", "2d"). */
export function formatAge(since: Date | undefined, now: Date): string {
  if (!since) return '-';
  const s = Math.max(0, Math.floor((now.getTime() - since.getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** "2025-01-01 12:00:00 UTC": unambiguous wherever the terminal is. */
export function formatTimestamp(date: Date | undefined): string {
  if (!date || Number.isNaN(date.getTime())) return '-';
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A number without trailing zeros: 1, 0.5, 2.25. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
}

export { formatBytes } from '@cloudai/domain';

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** An argv as a POSIX shell would need it typed: ["sh","-c","echo hi"] → sh -c 'echo hi'. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (SAFE_WORD.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
