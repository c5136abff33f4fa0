import { TASK_STATUSES, CANCELLABLE_STATUSES, type TaskStatus } from '@cloudai/domain';
import { type FormEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, errorMessage, isAbort } from '../api/client.js';
import type { Task, TaskList } from '../api/types.js';
import { StatusChip } from '../components/StatusChip.js';
import { useTaskEvents } from '../events.js';
import { between, formatDuration, formatTime } from '../format.js';
import { Link, navigate, useLocation, withQuery } from '../router.js';
import { useSession } from '../session.js';

const PAGE_SIZE = 50;

/** Columns the server sorts by (its `sort` values); the others are shown, not sorted. */
type SortField = 'task_name' | 'status' | 'submitted_at';
const COLUMNS: { label: string; sort?: SortField }[] = [
  { label: 'Name', sort: 'task_name' },
  { label: 'Status', sort: 'status' },
  { label: 'Exit' },
  { label: 'Worker' },
  { label: 'Submitted', sort: 'submitted_at' },
  { label: 'Duration' },
];
const DEFAULT_SORT = '-submitted_at';

/** A column's sort after a click on it: the other direction, or its first (names A→Z, times newest first). */
function nextSort(current: string, field: SortField): string {
  if (current === field) return `-${field}`;
  if (current === `-${field}`) return field;
  return field === 'submitted_at' ? `-${field}` : field;
}

/** Filters live in the query string, so a view can be shared by its URL. */
interface Filters {
  status: string;
  name: string;
  since: string;
  allUsers: boolean;
  /** a `sort` value of the API: a field, descending with a leading "-" */
  sort: string;
  pageToken: string;
}

function filtersOf(search: URLSearchParams): Filters {
  return {
    status: search.get('status') ?? '',
    name: search.get('name') ?? '',
    since: search.get('since') ?? '',
    allUsers: search.get('all_users') === 'true',
    sort: search.get('sort') ?? DEFAULT_SORT,
    pageToken: search.get('page_token') ?? '',
  };
}

function urlOf(f: Filters): string {
  return withQuery('/tasks', {
    status: f.status,
    name: f.name,
    since: f.since,
    all_users: f.allUsers ? 'true' : undefined,
    sort: f.sort === DEFAULT_SORT ? undefined : f.sort,
    page_token: f.pageToken,
  });
}

const duration = (t: Task) => between(t.startedAt, t.finishedAt);

export function TasksPage() {
  const { session } = useSession();
  const { search } = useLocation();
  const filters = filtersOf(search);
  const query = urlOf(filters);
  const [list, setList] = useState<TaskList | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [notice, setNotice] = useState<string | undefined>();
  // Tokens of the pages before this one, for "Previous"; kept in history state's stead, per visit.
  const previous = useRef<string[]>([]);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    api<TaskList>('/tasks', {
      signal: controller.signal,
      query: {
        status: filters.status,
        name: filters.name,
        since: filters.since,
        all_users: filters.allUsers ? 'true' : undefined,
        sort: filters.sort,
        page_token: filters.pageToken,
        limit: PAGE_SIZE,
      },
    })
      .then((l) => {
        setList(l);
        setError(undefined);
      })
      .catch((err: unknown) => {
        if (!isAbort(err)) setError(errorMessage(err));
      });
    return () => controller.abort();
    // The query string is the whole input of this fetch.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [query, reload]);

  // A changed task is fetched again on its own; a task not on this page
  // (a new one) reloads the page, at most a few times a second.
  const reloadTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const tasksOnPage = useMemo(() => new Set(list?.tasks.map((t) => t.taskId)), [list]);
  const refreshTask = useCallback((taskId: string) => {
    api<{ task: Task }>(`/tasks/${encodeURIComponent(taskId)}`)
      .then(({ task }) => setList((l) => l && { ...l, tasks: l.tasks.map((t) => (t.taskId === task.taskId ? task : t)) }))
      .catch(() => undefined);
  }, []);
  useTaskEvents((event) => {
    if (!event.taskId) return;
    if (tasksOnPage.has(event.taskId)) refreshTask(event.taskId);
    else if (!filters.pageToken && !reloadTimer.current) {
      reloadTimer.current = setTimeout(() => {
        reloadTimer.current = undefined;
        setReload((n) => n + 1);
      }, 300);
    }
  });
  useEffect(() => () => clearTimeout(reloadTimer.current), []);

  const tasks = list?.tasks ?? [];
  const cancellable = tasks.filter((t) => selected.has(t.taskId) && (CANCELLABLE_STATUSES as readonly string[]).includes(t.status));

  const apply = (next: Partial<Filters>) => {
    previous.current = [];
    setSelected(new Set());
    navigate(urlOf({ ...filters, pageToken: '', ...next }));
  };

  const onFilter = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const statuses = TASK_STATUSES.filter((s) => data.get(`status-${s}`) === 'on');
    apply({ status: statuses.join(','), name: String(data.get('name') ?? '').trim(), since: String(data.get('since') ?? '').trim() });
  };

  const cancelSelected = async () => {
    const results = await Promise.allSettled(
      cancellable.map((t) => api<{ task: Task }>(`/tasks/${encodeURIComponent(t.taskId)}/cancel`, { method: 'POST' })),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    setNotice(
      failed.length
        ? `Cancelled ${results.length - failed.length} of ${results.length}: ${errorMessage(failed[0]?.reason)}`
        : `Cancelled ${results.length} task${results.length === 1 ? '' : 's'}.`,
    );
    setSelected(new Set());
    setReload((n) => n + 1);
  };

  const chosen = new Set(filters.status.split(',').filter(Boolean));
  const allSelected = tasks.length > 0 && tasks.every((t) => selected.has(t.taskId));

  return (
    <section aria-labelledby="tasks-title">
      <div className="page-head">
        <h1 id="tasks-title">Tasks</h1>
        <Link to="/submit" className="button">
          Submit a task
        </Link>
      </div>
      <form className="filters" onSubmit={onFilter} key={query} aria-label="Filter tasks">
        <fieldset>
          <legend>Status</legend>
          {TASK_STATUSES.map((s: TaskStatus) => (
            <label key={s} className="check">
              <input type="checkbox" name={`status-${s}`} defaultChecked={chosen.has(s)} /> {s}
            </label>
          ))}
        </fieldset>
        <label>
          Name
          <input name="name" defaultValue={filters.name} placeholder="task name" />
        </label>
        <label>
          Since
          <input name="since" defaultValue={filters.since} placeholder="10m, 2h or an ISO time" />
        </label>
        {session.role === 'admin' && (
          <label className="check">
            <input type="checkbox" checked={filters.allUsers} onChange={(e) => apply({ allUsers: e.target.checked })} /> All users
          </label>
        )}
        <div className="filter-actions">
          <button type="submit">Apply filters</button>
          <button type="button" onClick={() => apply({ status: '', name: '', since: '' })}>
            Clear
          </button>
        </div>
      </form>

      <div className="toolbar">
        <button type="button" disabled={cancellable.length === 0} onClick={() => void cancelSelected()}>
          Cancel selected ({cancellable.length})
        </button>
        <p role="status" className="notice">
          {notice}
        </p>
      </div>

      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="table-wrap">
        <table className="tasks-table">
          <caption className="visually-hidden">Tasks, sorted by the column marked; select rows to cancel them</caption>
          <thead>
            <tr>
              <th scope="col">
                <input
                  type="checkbox"
                  aria-label="Select all tasks on this page"
                  checked={allSelected}
                  onChange={(e) => setSelected(e.target.checked ? new Set(tasks.map((t) => t.taskId)) : new Set())}
                />
              </th>
              {COLUMNS.map((c) => {
                const direction = c.sort && (filters.sort === c.sort ? 'ascending' : filters.sort === `-${c.sort}` ? 'descending' : undefined);
                return (
                  <th key={c.label} scope="col" aria-sort={direction}>
                    {c.sort ? (
                      <button type="button" className="sort" onClick={() => apply({ sort: nextSort(filters.sort, c.sort!) })}>
                        {c.label}
                      </button>
                    ) : (
                      c.label
                    )}
                  </th>
                );
              })}
              {filters.allUsers && <th scope="col">User</th>}
            </tr>
          </thead>
          <tbody>
            {tasks.map((t) => (
              <tr key={t.taskId} data-task-id={t.taskId}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select ${t.taskName}`}
                    checked={selected.has(t.taskId)}
                    onChange={(e) =>
                      setSelected((s) => {
                        const next = new Set(s);
                        if (e.target.checked) next.add(t.taskId);
                        else next.delete(t.taskId);
                        return next;
                      })
                    }
                  />
                </td>
                <th scope="row">
                  <Link to={`/tasks/${encodeURIComponent(t.taskId)}`}>{t.taskName}</Link>
                </th>
                <td>
                  <StatusChip status={t.status} />
                </td>
                <td>{t.exitCode ?? '-'}</td>
                <td>{t.workerId ?? '-'}</td>
                <td>{formatTime(t.submittedAt)}</td>
                <td>{formatDuration(duration(t))}</td>
                {filters.allUsers && <td>{t.userId}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list && tasks.length === 0 && <p>No tasks match these filters.</p>}
      <nav className="pager" aria-label="Pages">
        <button
          type="button"
          disabled={!filters.pageToken}
          onClick={() => navigate(urlOf({ ...filters, pageToken: previous.current.pop() ?? '' }))}
        >
          Previous
        </button>
        <button
          type="button"
          disabled={!list?.nextPageToken}
          onClick={() => {
            previous.current.push(filters.pageToken);
            navigate(urlOf({ ...filters, pageToken: list?.nextPageToken ?? '' }));
          }}
        >
          Next
        </button>
      </nav>
    </section>
  );
}
