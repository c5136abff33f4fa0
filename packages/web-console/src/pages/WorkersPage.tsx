import { useEffect, useState } from 'react';
import { api, errorMessage } from '../api/client.js';
import type { ResourcesJson, Worker } from '../api/types.js';
import { StatusChip } from '../components/StatusChip.js';
import { formatAge, formatNumber } from '../format.js';
import { useNow } from '../now.js';
import { Link } from '../router.js';

const REFRESH_MS = 5000;

function Usage({ label, key_, worker, unit }: { label: string; key_: keyof ResourcesJson; worker: Worker; unit: string }) {
  const capacity = worker.capacity[key_] ?? 0;
  const allocated = worker.allocated[key_] ?? 0;
  const text = `${formatNumber(allocated)} of ${formatNumber(capacity)}${unit}`;
  return (
    <div className="usage">
      <meter min={0} max={capacity || 1} value={allocated} high={capacity * 0.9} aria-label={`${label} allocated: ${text}`} />
      <span>{text}</span>
    </div>
  );
}

export function WorkersPage() {
  const [workers, setWorkers] = useState<Worker[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const now = useNow();

  useEffect(() => {
    const load = () =>
      api<{ workers: Worker[] }>('/workers')
        .then((r) => {
          setWorkers(r.workers);
          setError(undefined);
        })
        .catch((err: unknown) => setError(errorMessage(err)));
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  return (
    <section aria-labelledby="workers-title">
      <h1 id="workers-title">Workers</h1>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="table-wrap">
        <table className="workers-table">
          <caption className="visually-hidden">Workers with their capacity, what is allocated and their running tasks</caption>
          <thead>
            <tr>
              <th scope="col">Worker</th>
              <th scope="col">State</th>
              <th scope="col">CPU</th>
              <th scope="col">Memory</th>
              <th scope="col">GPU</th>
              <th scope="col">Running tasks</th>
              <th scope="col">Heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {workers?.map((w) => (
              <tr key={w.workerId}>
                <th scope="row">
                  {w.workerId}
                  <div className="hint">{w.address}</div>
                </th>
                <td>
                  <StatusChip status={w.state} />
                </td>
                <td>
                  <Usage label="CPU" key_="cpu" worker={w} unit=" cores" />
                </td>
                <td>
                  <Usage label="Memory" key_="memoryGb" worker={w} unit=" GB" />
                </td>
                <td>
                  <Usage label="GPU" key_="gpu" worker={w} unit="" />
                </td>
                <td>
                  {w.taskIds.length === 0 ? (
                    '-'
                  ) : (
                    <ul className="plain">
                      {w.taskIds.map((id) => (
                        <li key={id}>
                          <Link to={`/tasks/${encodeURIComponent(id)}`}>
                            <code>{id}</code>
                          </Link>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>{formatAge(w.lastHeartbeat, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {workers?.length === 0 && <p>No workers have registered.</p>}
    </section>
  );
}
