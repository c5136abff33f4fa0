import os from 'node:os';
import type { Usage } from '@cloudai/proto';

const GiB = 1024 ** 3;

interface CpuTimes {
  busy: number;
  total: number;
}

function cpuTimes(): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const t = cpu.times;
    const all = t.user + t.nice + t.sys + t.idle + t.irq;
    total += all;
    busy += all - t.idle;
  }
  return { busy, total };
}

/**
 * Host telemetry for heartbeats. CPU percent is measured between two
 * samples (os.cpus() only gives totals since boot), so each call reports the
 * load since the previous one.
 */
export class UsageSampler {
  private last: CpuTimes = cpuTimes();

  sample(runningContainers: number): Usage {
    const now = cpuTimes();
    const total = now.total - this.last.total;
    const busy = now.busy - this.last.busy;
    this.last = now;
    const cpuPercent = total > 0 ? Math.min(100, Math.max(0, (busy / total) * 100)) : 0;
    return {
      cpuPercent: Math.round(cpuPercent * 10) / 10,
      memoryUsedGb: Math.round(((os.totalmem() - os.freemem()) / GiB) * 1000) / 1000,
      loadAverage1m: os.loadavg()[0] ?? 0,
      runningContainers,
    };
  }
}
