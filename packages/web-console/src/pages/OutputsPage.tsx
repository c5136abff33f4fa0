import { type FormEvent, useEffect, useState } from 'react';
import { api, errorMessage } from '../api/client.js';
import type { OutputRun } from '../api/types.js';
import { OutputsBrowser } from '../components/OutputsBrowser.js';
import { StatusChip } from '../components/StatusChip.js';
import { formatTime } from '../format.js';
import { Link, navigate, useLocation, withQuery } from '../router.js';

/** Every run of a task name, newest first, each with its files: outputs grouped by task name. */
export function OutputsPage() {
  const { search } = useLocation();
  const name = search.get('name') ?? '';
  const [runs, setRuns] = useState<OutputRun[] | undefined>();
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    setRuns(undefined);
    setError(undefined);
    if (!name) return undefined;
    const controller = new AbortController();
    api<{ runs: OutputRun[] }>('/files', { query: { task_name: name }, signal: controller.signal })
      .then((r) => setRuns(r.runs))
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(errorMessage(err));
      });
    return () => controller.abort();
  }, [name]);

  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    navigate(withQuery('/outputs', { name: String(new FormData(e.currentTarget).get('name') ?? '').trim() }));
  };

  return (
    <section aria-labelledby="outputs-page-title">
      <h1 id="outputs-page-title">Outputs by task name</h1>
      <form className="inline-form" onSubmit={onSubmit} key={name}>
        <label htmlFor="outputs-name">Task name</label>
        <input id="outputs-name" name="name" defaultValue={name} required />
        <button type="submit">Show runs</button>
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {runs?.length === 0 && <p>No runs named {name}.</p>}
      {runs?.map((run) => (
        <article key={run.task.taskId} className="run" aria-labelledby={`run-${run.task.taskId}`}>
          <h2 id={`run-${run.task.taskId}`}>
            <Link to={`/tasks/${encodeURIComponent(run.task.taskId)}`}>{formatTime(run.task.submittedAt)}</Link> <StatusChip status={run.task.status} />
          </h2>
          <p className="hint">
            <code>{run.task.taskId}</code>
          </p>
          <OutputsBrowser taskId={run.task.taskId} files={run.files} totalBytes={run.totalBytes} />
        </article>
      ))}
    </section>
  );
}
