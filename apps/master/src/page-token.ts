import { invalidArgument } from '@cloudai/rpc';

/** Opaque keyset cursor for ListTasks: the last task of the previous page. */
export function encodePageToken(submittedAt: Date, taskId: string): string {
  return Buffer.from(JSON.stringify({ s: submittedAt.getTime(), t: taskId })).toString('base64url');
}

export function decodePageToken(token: string): { submittedAt: Date; taskId: string } {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (
      typeof v === 'object' && v !== null &&
      typeof (v as { s: unknown }).s === 'number' &&
      typeof (v as { t: unknown }).t === 'string'
    ) {
      const { s, t } = v as { s: number; t: string };
      const submittedAt = new Date(s);
      if (!Number.isNaN(submittedAt.getTime()) && t.length <= 64) return { submittedAt, taskId: t };
    }
  } catch {
    // fall through to the error below
  }
  throw invalidArgument('page_token is not a token returned by ListTasks');
}
