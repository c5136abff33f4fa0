import { Counter, Gauge, type Registry } from 'prom-client';

/** The worker's metrics: its containers, the output it could not keep, and what it sent to storage. */
export class WorkerMetrics {
  private readonly logDropped: Counter;
  private readonly uploaded: Counter;
  private readonly spoolDisk: Gauge;

  /** `containersRunning` is read at scrape time. */
  constructor(registry: Registry, containersRunning: () => number) {
    const registers = [registry];
    new Gauge({
      name: 'cloudai_worker_containers_running',
      help: 'Task containers this worker is running now',
      registers,
      collect() {
        this.set(containersRunning());
      },
    });
    this.logDropped = new Counter({
      name: 'cloudai_worker_log_dropped_bytes_total',
      help: 'Task output bytes this worker dropped: its log spool full, the log capped by the master, or a batch refused',
      registers,
    });
    this.spoolDisk = new Gauge({
      name: 'cloudai_worker_log_spool_bytes',
      help: 'Bytes of task output in this worker\'s log spools on disk, waiting for the master or not yet removed',
      registers,
    });
    this.uploaded = new Counter({
      name: 'cloudai_worker_upload_bytes_total',
      help: 'Bytes of output archives this worker sent to storage, resends included',
      registers,
    });
  }

  readonly onLogDropped = (bytes: number): void => this.logDropped.inc(bytes);

  readonly onLogSpoolDisk = (delta: number): void => this.spoolDisk.inc(delta);

  readonly onUploadSent = (bytes: number): void => this.uploaded.inc(bytes);
}
