import { lstatSync } from 'node:fs';
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Logger } from '@cloudai/logger';

/**
 * The host folders bound at the containers' output path: one per
 * assignment, `<root>/<task_id>-<assignment_id>`, kept until storage has
 * acknowledged its upload.
 */
export class OutputFolders {
  private readonly log: Logger;

  constructor(
    /** absolute: Docker binds only absolute host paths */
    readonly root: string,
    logger: Logger,
  ) {
    if (!isAbsolute(root)) throw new Error(`output root must be an absolute path, got ${root}`);
    this.log = logger.child({ component: 'outputs' });
  }

  pathFor(taskId: string, assignmentId: string): string {
    // Both ids are validated (no '/', no '..') before an execution exists.
    return join(this.root, `${taskId}-${assignmentId}`);
  }

  /** A fresh, empty folder for the assignment: whatever an earlier attempt left there is gone. */
  async create(taskId: string, assignmentId: string): Promise<string> {
    const path = this.pathFor(taskId, assignmentId);
    await rm(path, { recursive: true, force: true });
    await mkdir(path, { recursive: true });
    // mkdir's mode is cut by the umask; images that run as a non-root user
    // must still be able to write their outputs.
    await chmod(path, 0o777);
    return path;
  }

  /**
   * The regular files under `path`, as the upload will pack them (links are
   * neither followed nor counted): how many, and their bytes. Undefined when
   * the folder cannot be read: the size is only for people to see.
   */
  async measure(path: string): Promise<{ files: number; bytes: number } | undefined> {
    try {
      const entries = await readdir(path, { recursive: true, withFileTypes: true });
      let files = 0;
      let bytes = 0;
      for (const entry of entries) {
        if (!entry.isFile()) continue;
        // Synchronous: a stat of a warm folder takes microseconds, a round trip through the thread pool far more.
        const stats = lstatSync(join(entry.parentPath, entry.name), { throwIfNoEntry: false });
        if (!stats?.isFile()) continue;
        files++;
        bytes += stats.size;
      }
      return { files, bytes };
    } catch (err) {
      this.log.warn({ err, path }, 'could not measure an output folder');
      return undefined;
    }
  }

  async remove(path: string): Promise<void> {
    try {
      await rm(path, { recursive: true, force: true });
    } catch (err) {
      this.log.error({ err, path }, 'could not remove an output folder');
    }
  }

  /**
   * Removes every folder under the root but those of `keep` (assignment
   * folders still in use); returns how many. A new worker process runs
   * nothing yet, so at start that is all of them.
   */
  async removeLeftovers(keep: ReadonlySet<string> = new Set()): Promise<number> {
    await mkdir(this.root, { recursive: true });
    let removed = 0;
    for (const name of await readdir(this.root)) {
      const path = join(this.root, name);
      if (keep.has(path)) continue;
      this.log.warn({ path }, 'removing an output folder left by a previous worker process');
      await this.remove(path);
      removed++;
    }
    return removed;
  }
}
