import { TaskSortKey } from '@cloudai/proto';

/**
 * How a client names a task list's order (the CLI's `--sort`, the HTTP
 * API's `sort`): a field, descending with a leading "-". The default is
 * `-submitted_at`, newest first.
 */
export const TASK_SORTS = ['submitted_at', '-submitted_at', 'task_name', '-task_name', 'status', '-status'] as const;
export type TaskSort = (typeof TASK_SORTS)[number];

const SORT_KEYS: Record<string, TaskSortKey> = {
  submitted_at: TaskSortKey.TASK_SORT_KEY_SUBMITTED_AT,
  task_name: TaskSortKey.TASK_SORT_KEY_TASK_NAME,
  status: TaskSortKey.TASK_SORT_KEY_STATUS,
};

/** ListTasks' sort_by and ascending for a sort name. */
export function taskSortRequest(sort: TaskSort = '-submitted_at'): { sortBy: TaskSortKey; ascending: boolean } {
  const descending = sort.startsWith('-');
  return { sortBy: SORT_KEYS[descending ? sort.slice(1) : sort]!, ascending: !descending };
}
