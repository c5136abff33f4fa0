import { CANCELLABLE_STATUSES, isTerminal, type TaskStatus } from '@cloudai/domain';
import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, errorMessage } from '../api/client.js';
import type { FileList, Task } from '../api/types.js';
import { LogViewer } from '../components/LogViewer.js';
import { OutputsBrowser } from '../components/OutputsBrowser.js';
import { StatusChip } from '../components/StatusChip.js';
import { Timeline } from '../components/Timeline.js';
import { useTaskEvents } from '../events.js';
import { formatBytes, formatNumber } from '../format.js';
import { useNow } from '../now.js';
import { Link, withQuery } from '../router.js';

type State = { kind: 'loading' } | { kind: 'not-found' } | { kind: 'error'; message: string } | { kind: 'task'; task: Task };

const ended = (task: Task) => task.status !== 'UNKNOWN' && isTerminal(task.status);

export function TaskPage({ taskId }: { taskId: string }) {
  const path = `/tasks/${encodeURIComponent(taskId)}`;
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [files, setFiles] = useState<FileList | undefined>();
  const [notice, setNotice] = useState<string | undefined>();

  const refresh = useCallback(() => {
    api<{ task: Task }>(path)
      .then(({ task }) => setState({ kind: 'task', task }))
      .catch((err: unknown) =>
        setState(err instanceof ApiError && err.status === 404 ? { kind: 'not-found' } : { kind: 'error', message: errorMessage(err) }),
      );
  }, [path]);
  useEffect(refresh, [refresh]);
  useTaskEvents((event) => {
    if (event.taskId === taskId) refresh();
  }, state.kind === 'task' && !ended(state.task));

  const task = state.kind === 'task' ? state.task : undefined;
  const done = task ? ended(task) : false;
  const [filesEpoch, setFilesEpoch] = useState(0);
  useEffect(() => {
    if (!done) return;
    api<FileList>(`${path}/files`)
      .then(setFiles)
      .catch((err: unknown) => setNotice(errorMessage(err)));
  }, [path, done, filesEpoch]);
  const now = useNow(1000, !done);

  // Whether the log is followed is decided once, when the page opens on a
  // task still running; the viewer switches to pages itself when it ends.
  const [followFromStart, setFollowFromStart] = useState<boolean | undefined>();
  useEffect(() => {
    if (task && followFromStart === undefined) setFollowFromStart(!ended(task));
  }, [task, followFromStart]);

  if (state.kind === 'loading') return <p role="status">Loading…</p>;
  if (state.kind === 'not-found')
    return (
      <section aria-labelledby="task-title">
        <h1 id="task-title">Task not found</h1>
        <p>No task of yours has the id {taskId}.</p>
        <Link to="/tasks">Back to tasks</Link>
      </section>
    );
  if (state.kind === 'error' || !task)
    return (
      <p role="alert" className="error">
        {state.kind === 'error' ? state.message : ''}
      </p>
    );

  const cancel = async () => {
    try {
      const { task: t } = await api<{ task: Task }>(`${path}/cancel`, { method: 'POST' });
      setState({ kind: 'task', task: t });
      setNotice('Cancelled.');
    } catch (err) {
      setNotice(errorMessage(err));
    }
  };

  return (
    <article aria-labelledby="task-title" className="task-page">
      <header className="task-header">
        <div className="page-head">
          <h1 id="task-title">{task.taskName}</h1>
          {(CANCELLABLE_STATUSES as readonly TaskStatus[]).includes(task.status as TaskStatus) && (
            <button type="button" onClick={() => void cancel()}>
              Cancel task
            </button>
          )}
        </div>
        <dl className="facts">
          <div>
            <dt>Status</dt>
            <dd data-testid="task-status">
              <StatusChip status={task.status} />
            </dd>
          </div>
          <div>
            <dt>Exit code</dt>
            <dd data-testid="task-exit">{task.exitCode ?? '-'}</dd>
          </div>
          <div>
            <dt>Attempt</dt>
            <dd>{task.attempt}</dd>
          </div>
          <div>
            <dt>Worker</dt>
            <dd>{task.workerId ?? '-'}</dd>
          </div>
          <div>
            <dt>Image</dt>
            <dd>
              <code>{task.image}</code>
            </dd>
          </div>
          <div>
            <dt>Resources</dt>
            <dd>{`${formatNumber(task.resources.cpu)} cpu, ${formatNumber(task.resources.memoryGb)} GB memory, ${formatNumber(task.resources.gpu)} gpu`}</dd>
          </div>
          <div className="wide">
            <dt>Command</dt>
            <dd>
              <code>{task.command.length ? task.command.map((a) => JSON.stringify(a)).join(' ') : '(the image’s default)'}</code>
            </dd>
          </div>
          {task.reason && (
            <div className="wide">
              <dt>Reason</dt>
              <dd data-testid="task-reason">{task.reason}</dd>
            </div>
          )}
          <div className="wide">
            <dt>Task id</dt>
            <dd>
              <code>{task.taskId}</code>
            </dd>
          </div>
        </dl>
        <p role="status" className="notice">
          {notice}
        </p>
        <Timeline task={task} now={now} />
      </header>
      {followFromStart !== undefined && (
        <LogViewer taskId={task.taskId} taskName={task.taskName} running={followFromStart} onEnded={refresh} />
      )}
      <section aria-labelledby="outputs-title">
        <h2 id="outputs-title">Outputs</h2>
        <p>
          <Link to={withQuery('/outputs', { name: task.taskName })}>All runs named {task.taskName}</Link>
        </p>
        {!done && <p>Outputs appear once the task has ended.</p>}
        {done && !files && <p role="status">Loading…</p>}
        {files && (
          <OutputsBrowser
            taskId={task.taskId}
            files={files.files}
            totalBytes={files.totalBytes}
            onDeleted={() => setFilesEpoch((n) => n + 1)}
          />
        )}
        {done && task.logBytes > 0 && <p className="hint">{`Log: ${formatBytes(task.logBytes)}.`}</p>}
      </section>
    </article>
  );
}
