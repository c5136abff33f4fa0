import { z } from 'zod';

/** "true"/"1"/"yes"/"on" and "false"/"0"/"no"/"off"; anything else is an error. */
export const envBoolean = z
  .string()
  .transform((s, ctx) => {
    const v = s.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    ctx.addIssue({ code: 'custom', message: `expected true or false, got ${JSON.stringify(s)}` });
    return z.NEVER;
  });
