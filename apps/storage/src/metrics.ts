import { Counter, Histogram, type Registry } from 'prom-client';

/** Seconds, from a handful of small files to a large upload over a slow link. */
const UPLOAD_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** Storage's metrics: what stored uploads brought, and how long they took. */
export class StorageMetrics {
  private readonly bytes: Counter;
  private readonly files: Counter;
  private readonly seconds: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    this.bytes = new Counter({ name: 'cloudai_output_bytes_total', help: 'Bytes of output files stored', registers });
    this.files = new Counter({ name: 'cloudai_output_files_total', help: 'Output files stored', registers });
    this.seconds = new Histogram({
      name: 'cloudai_output_upload_seconds',
      help: 'Uploads stored: from the call arriving to the files being filed (received, checked, flushed), in seconds',
      buckets: UPLOAD_BUCKETS,
      registers,
    });
  }

  /** Records one upload that was stored. */
  stored(upload: { files: number; bytes: number; seconds: number }): void {
    this.files.inc(upload.files);
    this.bytes.inc(upload.bytes);
    this.seconds.observe(upload.seconds);
  }
}
