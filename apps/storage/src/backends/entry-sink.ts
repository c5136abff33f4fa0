import { invalidArgument } from '@cloudai/rpc';

/**
 * Where extract.ts puts the entries of an upload that does not go to a
 * local folder. Paths are already checked (relative, '/'-separated, no "."
 * or ".." segments, within the depth and length limits); quotas and the
 * size check are extract.ts's.
 */
export interface EntrySink {
  /** A folder entry. */
  makeDir(path: string, shown: string): Promise<void>;
  /**
   * Stores one regular file, whose header states `declaredSize` bytes, from
   * `body`; resolves with its sha256 (hex) once the sink has taken every
   * byte (it may still be storing them: see the sink's own flush). `shown`
   * names the entry in errors. The sink must not hold a chunk of `body`
   * once it asks for the next: extract.ts then releases its memory.
   */
  writeFile(path: string, declaredSize: number, body: AsyncIterable<Buffer>, shown: string): Promise<{ sha256: string }>;
}

/**
 * The file and folder paths one upload has claimed. A filesystem refuses a
 * file where a folder is (or under a file) by itself; an object store
 * would keep both "a" and "a/b", which no download could write out, so a
 * sink over one checks here: "a" then "a/b" (or the reverse) clash, as two
 * entries would on disk.
 */
export class PathClaims {
  private readonly files = new Set<string>();
  private readonly dirs = new Set<string>();

  claimFile(path: string, shown: string): void {
    if (this.dirs.has(path) || this.underFile(path)) throw clash(shown);
    this.files.add(path);
    this.addParents(path);
  }

  claimDir(path: string, shown: string): void {
    if (this.files.has(path) || this.underFile(path)) throw clash(shown);
    this.dirs.add(path);
    this.addParents(path);
  }

  private underFile(path: string): boolean {
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
      if (this.files.has(path.slice(0, i))) return true;
    }
    return false;
  }

  private addParents(path: string): void {
    for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
      const parent = path.slice(0, i);
      if (this.dirs.has(parent)) return; // its own parents were added with it
      this.dirs.add(parent);
    }
  }
}

const clash = (shown: string) => invalidArgument(`tar entry ${shown} clashes with an earlier entry`);
