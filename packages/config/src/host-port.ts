import { z } from 'zod';

/** "host:port" with a port in 0..65535 (0 = pick a free one, for listening). */
export const hostPort = z.string().refine(
  (s) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
    return m !== null && Number(m[2]) <= 65535;
  },
  { message: 'expected host:port, e.g. 127.0.0.1:50051' },
);

/** "host:port" to dial: like hostPort, but port 0 (listen anywhere) is refused. */
export const dialAddress = hostPort.refine((s) => !s.endsWith(':0'), {
  message: 'must name a real port (0 only makes sense for listening)',
});

/**
 * A comma-separated list of addresses to dial, e.g. the storage replicas
 * "10.0.0.5:50052,10.0.0.6:50052": each one checked as dialAddress and named
 * by its position when it is wrong; duplicates and empty entries are refused.
 */
export const dialAddressList = z.string().transform((s, ctx) => {
  const entries = s.split(',').map((e) => e.trim());
  entries.forEach((entry, i) => {
    const checked = dialAddress.safeParse(entry);
    if (!checked.success) {
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1} ("${entry}"): ${checked.error.issues[0]!.message}` });
    } else if (entries.indexOf(entry) !== i) {
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1} ("${entry}") repeats entry ${entries.indexOf(entry) + 1}` });
    }
  });
  return entries;
});
