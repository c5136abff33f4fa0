import { useEffect, useState } from 'react';
import { apiFetch, errorMessage } from '../api/client.js';
import type { OutputFile } from '../api/types.js';
import { formatBytes } from '../format.js';
import { parseCsv } from './csv.js';

/** Larger files are offered for download only. */
export const PREVIEW_LIMIT_BYTES = 2 * 1024 * 1024;
const CSV_ROWS = 500;

type Kind = 'image' | 'json' | 'csv' | 'text';

function kindOf(path: string): Kind {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  if (['png', 'jpg', 'jpeg', 'gif', 'webp'].includes(ext)) return 'image';
  if (ext === 'json') return 'json';
  if (ext === 'csv') return 'csv';
  return 'text';
}

/** The API path of one output file; each segment encoded, the slashes kept. */
export function fileUrl(taskId: string, path: string, inline = false): string {
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  return `/api/v1/tasks/${encodeURIComponent(taskId)}/files/${encoded}${inline ? '?inline=1' : ''}`;
}

type Content = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'binary' } | { kind: 'text'; text: string };

/**
 * A preview that nothing in the file can turn into code: text, JSON and CSV
 * are read as text and rendered as text nodes (never as HTML), and images
 * load in an <img> from the server's inline URL, whose answer carries a
 * sandboxing CSP of its own.
 */
export function FilePreview({ taskId, file }: { taskId: string; file: OutputFile }) {
  const kind = kindOf(file.path);
  const tooBig = file.size > PREVIEW_LIMIT_BYTES;
  const [content, setContent] = useState<Content>({ kind: 'loading' });

  useEffect(() => {
    if (tooBig || kind === 'image') return undefined;
    const controller = new AbortController();
    setContent({ kind: 'loading' });
    apiFetch(fileUrl(taskId, file.path).slice('/api/v1'.length), { signal: controller.signal })
      .then((res) => res.arrayBuffer())
      .then((bytes) => {
        const text = new TextDecoder('utf-8').decode(bytes);
        setContent(text.includes('\u0000') ? { kind: 'binary' } : { kind: 'text', text });
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setContent({ kind: 'error', message: errorMessage(err) });
      });
    return () => controller.abort();
  }, [taskId, file.path, kind, tooBig]);

  let body;
  if (tooBig) body = <p>{`${formatBytes(file.size)} is too large to preview (the limit is ${formatBytes(PREVIEW_LIMIT_BYTES)}); download it instead.`}</p>;
  else if (kind === 'image') body = <img className="preview-image" src={fileUrl(taskId, file.path, true)} alt={`Preview of ${file.path}`} />;
  else if (content.kind === 'loading') body = <p role="status">Loading…</p>;
  else if (content.kind === 'error') body = <p role="alert" className="error">{content.message}</p>;
  else if (content.kind === 'binary') body = <p>A binary file; download it to look inside.</p>;
  else if (kind === 'json') body = <JsonPreview text={content.text} />;
  else if (kind === 'csv') body = <CsvPreview text={content.text} />;
  else body = <pre className="preview-text">{content.text}</pre>;

  return (
    <section className="preview" aria-label={`Preview of ${file.path}`} data-testid="preview">
      <h3>{file.path}</h3>
      {body}
    </section>
  );
}

function JsonPreview({ text }: { text: string }) {
  let pretty: string;
  try {
    pretty = JSON.stringify(JSON.parse(text) as unknown, null, 2);
  } catch {
    return (
      <>
        <p>Not valid JSON; shown as text.</p>
        <pre className="preview-text">{text}</pre>
      </>
    );
  }
  return <pre className="preview-text preview-json">{pretty}</pre>;
}

function CsvPreview({ text }: { text: string }) {
  const { rows, truncated } = parseCsv(text, CSV_ROWS + 1);
  const [head, ...body] = rows;
  if (!head) return <p>An empty file.</p>;
  return (
    <div className="table-wrap">
      <table className="preview-csv">
        <thead>
          <tr>
            {head.map((cell, i) => (
              <th key={i} scope="col">
                {cell}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {body.map((row, r) => (
            <tr key={r}>
              {row.map((cell, i) => (
                <td key={i}>{cell}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {truncated && <p>{`The first ${CSV_ROWS} rows are shown; download the file for the rest.`}</p>}
    </div>
  );
}
