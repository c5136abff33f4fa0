/** One sample of a scrape: `name{labels} value`. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** the body as served */
  text: string;
  samples: MetricSample[];
  /**
   * The sum of the samples named `name` whose labels include `labels`;
   * undefined when there is none (a series that does not exist is not 0).
   */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

/** Reads Prometheus' text format, as a scraper would. */
export function parseMetrics(text: string): Scrape {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not a metric sample: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return {
    text,
    samples,
    value(name, wanted = {}) {
      const matching = samples.filter(
        (s) => s.name === name && Object.entries(wanted).every(([k, v]) => s.labels[k] === v),
      );
      return matching.length === 0 ? undefined : matching.reduce((sum, s) => sum + s.value, 0);
    },
  };
}

/** GET http://`address`/metrics, failing on any status but 200. */
export async function scrapeMetrics(address: string, { token }: { token?: string } = {}): Promise<Scrape> {
  const response = await fetch(`http://${address}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET http://${address}/metrics answered ${response.status}: ${text}`);
  return parseMetrics(text);
}
