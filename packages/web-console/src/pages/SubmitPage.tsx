import { DEFAULT_RESOURCES, defaultTaskName, validateTaskSpec } from '@cloudai/domain';
import { type FormEvent, useState } from 'react';
import { api, ApiError, errorMessage } from '../api/client.js';
import type { Task } from '../api/types.js';
import { navigate } from '../router.js';

type Field = 'image' | 'command' | 'env' | 'name' | 'cpu' | 'memoryGb' | 'storageGb' | 'gpu' | 'timeoutSeconds';

// The rules' messages and the API's `field` name fields the wire way
// ("resources.memory_gb", "task_name"); each maps to one input here.
const FIELD_NAMES: [prefix: string, field: Field][] = [
  ['resources.cpu', 'cpu'],
  ['resources.memory_gb', 'memoryGb'],
  ['resources.storage_gb', 'storageGb'],
  ['resources.gpu', 'gpu'],
  ['memoryGb', 'memoryGb'],
  ['storageGb', 'storageGb'],
  ['task_name', 'name'],
  ['timeout_seconds', 'timeoutSeconds'],
  ['timeoutSeconds', 'timeoutSeconds'],
  ['command', 'command'],
  ['image', 'image'],
  ['env', 'env'],
  ['name', 'name'],
  ['cpu', 'cpu'],
  ['gpu', 'gpu'],
];

function fieldOf(name: string | undefined): Field | undefined {
  if (!name) return undefined;
  return FIELD_NAMES.find(([prefix]) => name === prefix || name.startsWith(`${prefix}.`) || name.startsWith(`${prefix} `) || name.startsWith(`${prefix}:`))?.[1];
}

interface Values {
  image: string;
  command: string;
  env: string;
  name: string;
  cpu: string;
  memoryGb: string;
  storageGb: string;
  gpu: string;
  timeoutSeconds: string;
  network: boolean;
}

const EMPTY: Values = { image: '', command: '', env: '', name: '', cpu: '', memoryGb: '', storageGb: '', gpu: '', timeoutSeconds: '', network: false };

/** The request body of POST /tasks from the form: one argument per line, KEY=value per line, blank numbers left to the defaults. */
function requestOf(v: Values): { body: Record<string, unknown> } | { field: Field; message: string } {
  const command = v.command === '' ? [] : v.command.replace(/\r/g, '').split('\n');
  const env: Record<string, string> = {};
  for (const line of v.env.replace(/\r/g, '').split('\n')) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    if (eq < 1) return { field: 'env', message: `env entry ${JSON.stringify(line)} must be KEY=value` };
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const body: Record<string, unknown> = { image: v.image.trim(), command, env, network: v.network };
  if (v.name.trim()) body.name = v.name.trim();
  for (const key of ['cpu', 'memoryGb', 'storageGb', 'gpu', 'timeoutSeconds'] as const) {
    if (v[key].trim() === '') continue;
    const n = Number(v[key]);
    if (Number.isNaN(n)) return { field: key, message: `${key} must be a number` };
    body[key] = n;
  }
  return { body };
}

/** The same rules the master applies (the domain's TaskSpecSchema), run before sending. */
function check(body: Record<string, unknown>): { field: Field; message: string } | undefined {
  const image = String(body.image);
  const result = validateTaskSpec({
    image,
    command: body.command,
    env: body.env,
    resources: {
      cpu: body.cpu ?? DEFAULT_RESOURCES.cpu,
      memoryGb: body.memoryGb ?? DEFAULT_RESOURCES.memoryGb,
      storageGb: body.storageGb ?? DEFAULT_RESOURCES.storageGb,
      gpu: body.gpu ?? DEFAULT_RESOURCES.gpu,
    },
    taskName: body.name ?? defaultTaskName(image || 'task', new Date()),
    timeoutSeconds: body.timeoutSeconds ?? 0,
    network: body.network,
  });
  if (result.ok) return undefined;
  return { field: fieldOf(result.message) ?? 'image', message: result.message };
}

export function SubmitPage() {
  const [values, setValues] = useState<Values>(EMPTY);
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [formError, setFormError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  // One key per filled-in form: a double click or a retry after a lost answer submits once.
  const [idempotencyKey] = useState(() => crypto.randomUUID());

  const set = (key: keyof Values) => (e: { target: { value: string; checked?: boolean } }) =>
    setValues((v) => ({ ...v, [key]: key === 'network' ? Boolean(e.target.checked) : e.target.value }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setFormError(undefined);
    const request = requestOf(values);
    const problem = 'body' in request ? check(request.body) : request;
    if (problem) {
      setErrors({ [problem.field]: problem.message });
      document.getElementById(`submit-${problem.field}`)?.focus();
      return;
    }
    if (!('body' in request)) return;
    setErrors({});
    setBusy(true);
    try {
      const { task } = await api<{ task: Task }>('/tasks', { method: 'POST', body: { ...request.body, idempotencyKey } });
      navigate(`/tasks/${encodeURIComponent(task.taskId)}`);
    } catch (err) {
      const field = err instanceof ApiError ? (fieldOf(err.field) ?? fieldOf(err.message)) : undefined;
      if (field) {
        setErrors({ [field]: errorMessage(err) });
        document.getElementById(`submit-${field}`)?.focus();
      } else setFormError(errorMessage(err));
      setBusy(false);
    }
  };

  const input = (field: Field, label: string, props: { type?: string; placeholder?: string; hint?: string; multiline?: boolean; step?: string } = {}) => {
    const id = `submit-${field}`;
    const error = errors[field];
    const describedBy = [props.hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
    const common = {
      id,
      name: field,
      value: values[field],
      onChange: set(field),
      'aria-invalid': error ? true : undefined,
      'aria-describedby': describedBy,
      placeholder: props.placeholder,
    };
    return (
      <div className="field">
        <label htmlFor={id}>{label}</label>
        {props.multiline ? <textarea {...common} rows={4} spellCheck={false} /> : <input {...common} type={props.type ?? 'text'} step={props.step} />}
        {props.hint && (
          <p id={`${id}-hint`} className="hint">
            {props.hint}
          </p>
        )}
        {error && (
          <p id={`${id}-error`} className="field-error" data-field={field}>
            {error}
          </p>
        )}
      </div>
    );
  };

  return (
    <section aria-labelledby="submit-title">
      <h1 id="submit-title">Submit a task</h1>
      <form className="submit-form" onSubmit={(e) => void submit(e)} noValidate>
        {input('image', 'Image', { placeholder: 'busybox:1' })}
        {input('command', 'Command', { multiline: true, hint: 'One argument per line, e.g. sh, -c, then the script.' })}
        {input('name', 'Name', { hint: 'Optional; defaults to <image>-<unix time>.' })}
        <fieldset className="resources">
          <legend>Resources</legend>
          {input('cpu', 'CPU (cores)', { type: 'number', step: 'any', placeholder: String(DEFAULT_RESOURCES.cpu) })}
          {input('memoryGb', 'Memory (GB)', { type: 'number', step: 'any', placeholder: String(DEFAULT_RESOURCES.memoryGb) })}
          {input('storageGb', 'Storage (GB)', { type: 'number', step: 'any', placeholder: String(DEFAULT_RESOURCES.storageGb) })}
          {input('gpu', 'GPUs', { type: 'number', step: '1', placeholder: String(DEFAULT_RESOURCES.gpu) })}
        </fieldset>
        {input('env', 'Environment', { multiline: true, hint: 'KEY=value, one per line.' })}
        {input('timeoutSeconds', 'Timeout (seconds)', { type: 'number', step: '1', placeholder: '0 (none)' })}
        <label className="check">
          <input type="checkbox" name="network" checked={values.network} onChange={set('network')} /> Network access
        </label>
        {formError && (
          <p role="alert" className="error">
            {formError}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Submit
        </button>
      </form>
    </section>
  );
}
