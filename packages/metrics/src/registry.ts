import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One process's registry, holding Node's default process metrics under
 * their standard names (process_cpu_seconds_total, process_resident_memory_bytes,
 * nodejs_eventloop_lag_seconds, …). Each app makes one in its composition
 * root and hands it to what it counts; nothing uses prom-client's global one.
 */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
