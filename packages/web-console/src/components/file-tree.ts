import type { OutputFile } from '../api/types.js';

export interface Folder {
  name: string;
  path: string;
  folders: Folder[];
  files: OutputFile[];
  /** bytes of everything under it */
  size: number;
}

/** The folder tree of flat output paths ("models/a.bin"), folders and files each sorted by name. */
export function buildTree(files: OutputFile[]): Folder {
  const root: Folder = { name: '', path: '', folders: [], files: [], size: 0 };
  for (const file of files) {
    const parts = file.path.split('/').filter(Boolean);
    let folder = root;
    folder.size += file.size;
    for (const part of parts.slice(0, -1)) {
      let child = folder.folders.find((f) => f.name === part);
      if (!child) {
        child = { name: part, path: folder.path ? `${folder.path}/${part}` : part, folders: [], files: [], size: 0 };
        folder.folders.push(child);
      }
      child.size += file.size;
      folder = child;
    }
    folder.files.push(file);
  }
  const sort = (f: Folder) => {
    f.folders.sort((a, b) => a.name.localeCompare(b.name));
    f.files.sort((a, b) => a.path.localeCompare(b.path));
    f.folders.forEach(sort);
  };
  sort(root);
  return root;
}

/** The last segment of a path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
