import { useState } from 'react';
import { api, errorMessage } from '../api/client.js';
import type { OutputFile } from '../api/types.js';
import { formatBytes } from '../format.js';
import { baseName, buildTree, type Folder } from './file-tree.js';
import { FilePreview, fileUrl } from './FilePreview.js';

/**
 * A task's output files as a folder tree, with sizes and sha256, a preview,
 * and downloads; with `onDeleted`, a button that deletes them all (asked twice).
 */
export function OutputsBrowser({
  taskId,
  files,
  totalBytes,
  onDeleted,
}: {
  taskId: string;
  files: OutputFile[];
  totalBytes: number;
  onDeleted?: () => void;
}) {
  const [previewed, setPreviewed] = useState<OutputFile | undefined>();
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | undefined>();
  if (files.length === 0) return <p>No output files.</p>;
  const remove = () => {
    setError(undefined);
    api(`/tasks/${encodeURIComponent(taskId)}/files`, { method: 'DELETE' })
      .then(() => onDeleted?.())
      .catch((err: unknown) => setError(errorMessage(err)));
  };
  const tree = buildTree(files);
  return (
    <div className="outputs">
      <p className="outputs-summary">
        {`${files.length} file${files.length === 1 ? '' : 's'}, ${formatBytes(totalBytes)}. `}
        <a className="button" href={`/api/v1/tasks/${encodeURIComponent(taskId)}/files.zip`} download>
          Download all (zip)
        </a>
        {onDeleted && !confirming && (
          <button type="button" className="danger" onClick={() => setConfirming(true)}>
            Delete files…
          </button>
        )}
      </p>
      {confirming && (
        <p role="alert" className="confirm">
          {`Delete all ${files.length} output file${files.length === 1 ? '' : 's'} of this task? This cannot be undone. `}
          <button type="button" className="danger" onClick={remove}>
            Delete
          </button>{' '}
          <button type="button" onClick={() => setConfirming(false)}>
            Keep them
          </button>
        </p>
      )}
      {error && <p role="alert" className="error">{error}</p>}
      <ul className="tree" aria-label="Output files">
        <FolderItems folder={tree} taskId={taskId} previewed={previewed} onPreview={setPreviewed} />
      </ul>
      {previewed && <FilePreview key={previewed.path} taskId={taskId} file={previewed} />}
    </div>
  );
}

interface ItemsProps {
  folder: Folder;
  taskId: string;
  previewed: OutputFile | undefined;
  onPreview: (file: OutputFile) => void;
}

function FolderItems({ folder, taskId, previewed, onPreview }: ItemsProps) {
  return (
    <>
      {folder.folders.map((sub) => (
        <li key={sub.path} className="tree-folder">
          <details open>
            <summary>
              <span className="tree-name">{`${sub.name}/`}</span> <span className="tree-size">{formatBytes(sub.size)}</span>
            </summary>
            <ul>
              <FolderItems folder={sub} taskId={taskId} previewed={previewed} onPreview={onPreview} />
            </ul>
          </details>
        </li>
      ))}
      {folder.files.map((file) => (
        <li key={file.path} className="tree-file" data-path={file.path}>
          <span className="tree-name">{baseName(file.path)}</span>
          <span className="tree-size">{formatBytes(file.size)}</span>
          <code className="tree-sha" title={`sha256 ${file.sha256}`}>
            {file.sha256.slice(0, 12)}
          </code>
          <button type="button" aria-pressed={previewed?.path === file.path} aria-label={`Preview ${file.path}`} onClick={() => onPreview(file)}>
            Preview
          </button>
          <a href={fileUrl(taskId, file.path)} download={baseName(file.path)} aria-label={`Download ${file.path}`}>
            Download
          </a>
        </li>
      ))}
    </>
  );
}
