import type { Writable } from 'node:stream';
import { clean, formatBytes } from './format.js';

const BAR_WIDTH = 20;
/** Redraws at most this often: a terminal repainting per 64 KiB chunk would cost more than the download. */
const REDRAW_MS = 100;

export interface ProgressState {
  done: number;
  /** 0 when unknown */
  total: number;
  /** bytes per second */
  rate: number;
  path: string;
}

/** `[#####...............]  25% 1.2 MB / 4.8 MB  3.1 MB/s  models/model.bin`, cut to `columns`. */
export function renderProgress(state: ProgressState, columns: number): string {
  const fraction = state.total > 0 ? Math.min(1, state.done / state.total) : 0;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const sizes = state.total > 0 ? `${formatBytes(state.done)} / ${formatBytes(state.total)}` : formatBytes(state.done);
  const line = `${bar} ${percent} ${sizes}  ${formatBytes(Math.round(state.rate))}/s  ${clean(state.path)}`;
  // One column spare: writing into the last one makes some terminals wrap.
  return line.length < columns ? line : line.slice(0, Math.max(0, columns - 1));
}

/** Reports a transfer's progress: a redrawn bar on a terminal, a line per finished file otherwise. */
export interface Progress {
  update(done: number, path: string): void;
  /** `note` says more than "downloaded", e.g. that the file was continued or already there */
  fileDone(path: string, size: number, note?: string): void;
  end(): void;
}

export function terminalProgress(out: Writable & { columns?: number }, total: number, now: () => number = Date.now): Progress {
  const started = now();
  let lastDraw = 0;
  let drawn = false;
  let state: ProgressState = { done: 0, total, rate: 0, path: '' };
  const draw = () => {
    const elapsed = (now() - started) / 1000;
    state = { ...state, rate: elapsed > 0 ? state.done / elapsed : 0 };
    out.write(`\r${renderProgress(state, out.columns ?? 80)}\u001b[K`);
    drawn = true;
    lastDraw = now();
  };
  return {
    update(done, path) {
      state = { ...state, done, path };
      if (now() - lastDraw >= REDRAW_MS) draw();
    },
    fileDone() {},
    end() {
      // The last state, complete, stays on screen as the record of the transfer.
      if (drawn || state.done > 0) {
        draw();
        out.write('\n');
      }
    },
  };
}

export function plainProgress(out: Writable): Progress {
  return {
    update() {},
    fileDone(path, size, note) {
      out.write(`downloaded ${clean(path)} (${formatBytes(size)}${note ? `; ${note}` : ''})\n`);
    },
    end() {},
  };
}
