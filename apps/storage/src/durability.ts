import { execFile } from 'node:child_process';

/**
 * Flushes every dirty page and inode of the filesystem that holds `path`:
 * syncfs(2), through `sync -f` because Node has no binding for it (-f, not
 * coreutils' --file-system, which busybox's sync in docker/local-images.sh's
 * base image does not know). Storage calls it before acknowledging an
 * upload, since the worker deletes its copy of the outputs on that
 * acknowledgement. One syncfs covers a tree of 10,000 small files, their
 * folders, the rename that published them and the metadata database's WAL
 * (when it is on the same filesystem) at the cost of one flush, where an
 * fsync per file would pay a journal commit each.
 */
export function syncFilesystem(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', path], { timeout: 10 * 60_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the `sync` command is not installed' : stderr.trim() || err.message;
      reject(new Error(`could not flush ${path} to disk: ${reason}`));
    });
  });
}
