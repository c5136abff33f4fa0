import { z } from 'zod';

/** "host:port" with a port in 0..65535 (0 = pick a free one, for listening). */
export const hostPort = z.string().refine(
  (s) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
    return m !== null && Number(m[2]) <= 65535;
  },
  { message: 'expected host:port, e.g. 127.0.0.1:50051' },
);
