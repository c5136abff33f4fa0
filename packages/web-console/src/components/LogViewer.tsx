import { useVirtualizer } from '@tanstack/react-virtual';
import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { api, apiUrl, errorMessage } from '../api/client.js';
import type { GrepResult, LogEnd, LogLine, LogLinesPage, LogStream } from '../api/types.js';
import { useLocation } from '../router.js';
import { LineSplitter } from './log-lines.js';

/** Lines fetched at a time as the reader scrolls (the API allows up to 5000). */
const PAGE = 500;
const ROW_HEIGHT = 20;

/** The line a #L123 address points at. */
function lineOfHash(hash: string): number | undefined {
  const m = /^#L(\d+)$/.exec(hash);
  return m ? Number(m[1]) : undefined;
}

/**
 * A task's log, virtualized so a log of millions of lines scrolls: it opens
 * at the tail, fetches pages of lines as they scroll into view, follows the
 * task over server-sent events while it runs, and searches on the server.
 */
export function LogViewer({ taskId, taskName, running, onEnded }: { taskId: string; taskName: string; running: boolean; onEnded: () => void }) {
  const base = `/tasks/${encodeURIComponent(taskId)}`;
  const lines = useRef(new Map<number, LogLine>());
  const pending = useRef(new Set<number>());
  const [total, setTotal] = useState(0);
  const [, setVersion] = useState(0);
  const [following, setFollowing] = useState(running);
  const [stick, setStick] = useState(true);
  const [wrap, setWrap] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [dropped, setDropped] = useState(0);
  /** while following: the lines finished before it began, which pages may be read for */
  const [stable, setStable] = useState(0);
  const scroller = useRef<HTMLDivElement>(null);
  const { hash } = useLocation();
  const target = lineOfHash(hash);

  const store = useCallback((got: LogLine[]) => {
    for (const l of got) lines.current.set(l.line, l);
    setVersion((v) => v + 1);
  }, []);

  // A finished log (or one whose follow ended) is read in pages from the tail.
  const [pagedEpoch, setPagedEpoch] = useState(running ? 0 : 1);
  useEffect(() => {
    if (pagedEpoch === 0) return undefined;
    const controller = new AbortController();
    lines.current.clear();
    pending.current.clear();
    api<LogLinesPage>(`${base}/log-lines`, { query: { start: -PAGE, count: PAGE }, signal: controller.signal })
      .then((page) => {
        store(page.lines);
        setTotal(page.totalLines);
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(errorMessage(err));
      });
    return () => controller.abort();
  }, [base, pagedEpoch, store]);

  // While the task runs, it opens at the tail (the last page, and where the
  // log stood after it) and what follows arrives as events; at the end the
  // log is read again in pages, so that line numbers are the server's.
  useEffect(() => {
    if (!running) return undefined;
    const controller = new AbortController();
    let source: EventSource | undefined;
    let count = 0;
    const add = (got: LogLine[]) => {
      if (got.length === 0) return;
      store(got);
      count += got.length;
      setTotal(count);
    };
    const follow = (splitter: LineSplitter, afterPosition: number) => {
      const events = new EventSource(apiUrl(`${base}/logs`, { follow: 'true', last_event_id: String(afterPosition) }));
      source = events;
      events.addEventListener('log', (e: MessageEvent<string>) => {
        const chunk = JSON.parse(e.data) as { stream: LogStream; text: string };
        add(splitter.push(chunk.stream, chunk.text));
      });
      events.addEventListener('end', (e: MessageEvent<string>) => {
        events.close();
        add(splitter.flush());
        const end = JSON.parse(e.data) as LogEnd;
        setDropped(end.droppedBytes);
        setFollowing(false);
        setPagedEpoch((n) => n + 1);
        onEnded();
      });
    };
    api<LogLinesPage>(`${base}/log-lines`, { query: { start: -PAGE, count: PAGE }, signal: controller.signal })
      .then((page) => {
        const from = page.follow ?? { afterPosition: 0, lines: 0, pending: { stdout: '', stderr: '' } };
        // Finished lines only: the unfinished ones continue in the follow.
        store(page.lines.filter((l) => l.line <= from.lines));
        count = from.lines;
        setTotal(count);
        setStable(from.lines);
        if (!controller.signal.aborted) follow(new LineSplitter(from.lines, from.pending), from.afterPosition);
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(errorMessage(err));
      });
    return () => {
      controller.abort();
      source?.close();
    };
    // onEnded is the page's refresh; a new one must not restart the stream.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [base, running, store]);

  const virtualizer = useVirtualizer({
    count: total,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 30,
  });
  const items = virtualizer.getVirtualItems();

  // Fetch the pages of the rows in view that are not here yet.
  const first = items[0]?.index;
  const last = items[items.length - 1]?.index;
  useEffect(() => {
    if (first === undefined || last === undefined) return;
    for (let p = Math.floor(first / PAGE); p <= Math.floor(last / PAGE); p++) {
      const start = p * PAGE + 1;
      // While following, only lines that were finished when it began are read in pages.
      if (following && start + PAGE - 1 > stable) continue;
      if (lines.current.has(start) && lines.current.has(Math.min(start + PAGE - 1, total))) continue;
      if (pending.current.has(p)) continue;
      pending.current.add(p);
      api<LogLinesPage>(`${base}/log-lines`, { query: { start, count: PAGE } })
        .then((page) => store(page.lines))
        .catch((err: unknown) => setError(errorMessage(err)))
        .finally(() => pending.current.delete(p));
    }
  }, [base, first, last, following, stable, total, store]);

  // Opens at the tail, and stays there while following unless the reader scrolled up.
  const opened = useRef(false);
  useEffect(() => {
    if (total === 0) return;
    if (target !== undefined && target <= total) {
      virtualizer.scrollToIndex(target - 1, { align: 'center' });
      opened.current = true;
    } else if (!opened.current || (following && stick)) {
      virtualizer.scrollToIndex(total - 1, { align: 'end' });
      opened.current = true;
    }
  }, [total, target, following, stick, virtualizer]);

  const onScroll = () => {
    const el = scroller.current;
    if (el) setStick(el.scrollHeight - el.scrollTop - el.clientHeight < ROW_HEIGHT * 2);
  };

  // Search runs on the server; a match is a line number to jump to.
  const [query, setQuery] = useState('');
  const [result, setResult] = useState<(GrepResult & { query: string }) | undefined>();
  const [at, setAt] = useState(0);
  const jump = (line: number) => {
    window.history.replaceState(null, '', `#L${line}`);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  };
  const search = async (e: FormEvent) => {
    e.preventDefault();
    if (!query) return;
    try {
      const r = await api<GrepResult>(`${base}/logs`, { query: { grep: query, limit: 1000 } });
      setResult({ ...r, query });
      setAt(0);
      if (r.matches[0]) jump(r.matches[0].line);
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const step = (by: number) => {
    if (!result || result.matches.length === 0) return;
    const next = (at + by + result.matches.length) % result.matches.length;
    setAt(next);
    const match = result.matches[next];
    if (match) jump(match.line);
  };

  return (
    <section className="log-viewer" aria-labelledby="log-title">
      <div className="log-head">
        <h2 id="log-title">Log</h2>
        <form className="log-search" role="search" onSubmit={(e) => void search(e)}>
          <label htmlFor="log-query" className="visually-hidden">
            Search the log
          </label>
          <input id="log-query" type="search" placeholder="Search the log" value={query} onChange={(e) => setQuery(e.target.value)} />
          <button type="submit">Search</button>
          {result && (
            <>
              <button type="button" onClick={() => step(-1)} disabled={result.matches.length === 0}>
                Previous match
              </button>
              <button type="button" onClick={() => step(1)} disabled={result.matches.length === 0}>
                Next match
              </button>
            </>
          )}
        </form>
        <div className="log-actions">
          <button type="button" aria-pressed={wrap} onClick={() => setWrap((w) => !w)}>
            Wrap lines
          </button>
          <a className="button" href={apiUrl(`${base}/logs`)} download={`${taskName}.log`}>
            Download full log
          </a>
        </div>
      </div>
      <p role="status" className="log-status" data-testid="log-status">
        {following ? 'Following the log live. ' : ''}
        {`${total} line${total === 1 ? '' : 's'}. `}
        {result &&
          (result.matches.length === 0
            ? `No line contains "${result.query}".`
            : `Match ${at + 1} of ${result.matches.length}${result.truncated ? '+' : ''} for "${result.query}" (line ${result.matches[at]?.line ?? ''}).`)}
        {dropped > 0 && ` ${dropped} bytes of this log were dropped (over the per-task cap).`}
      </p>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div ref={scroller} className={`log-scroller${wrap ? ' log-wrap' : ''}`} onScroll={onScroll} tabIndex={0} role="log" aria-label="Task log lines">
        {/* React sets style through the CSSOM, which a CSP of style-src 'self' allows (it refuses style attributes in markup). */}
        <div className="log-body" style={{ height: virtualizer.getTotalSize() }}>
          {items.map((item) => {
            const n = item.index + 1;
            const line = lines.current.get(n);
            const matched = result?.matches.some((m) => m.line === n);
            return (
              <div
                key={item.key}
                data-index={item.index}
                data-line={n}
                data-stream={line?.stream}
                ref={virtualizer.measureElement}
                style={{ transform: `translateY(${item.start}px)` }}
                className={`log-line${line?.stream === 'stderr' ? ' log-stderr' : ''}${n === target ? ' log-target' : ''}${matched ? ' log-match' : ''}`}
              >
                <a className="log-ln" href={`#L${n}`} aria-label={`Line ${n}`}>
                  {n}
                </a>
                {line?.stream === 'stderr' && <span className="log-tag">stderr</span>}
                <span className="log-text">{line ? line.text : '…'}</span>
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}
