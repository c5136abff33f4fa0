import type { Task } from '../api/types.js';
import { between, formatDuration, formatTime } from '../format.js';

const ORDER = ['QUEUED', 'SCHEDULED', 'RUNNING', 'UPLOADING', 'ENDED'] as const;
type Phase = (typeof ORDER)[number];

/** Which phase a status is in; a task that ended skipped nothing it did not reach. */
function phaseOf(task: Task): Phase {
  switch (task.status) {
    case 'QUEUED':
    case 'SCHEDULED':
    case 'RUNNING':
    case 'UPLOADING':
      return task.status;
    default:
      return 'ENDED';
  }
}

interface Step {
  phase: Phase;
  label: string;
  at: string | null;
  /** how long the phase lasted (or has lasted), NaN when the times do not say */
  ms: number;
}

/** The phases and their durations from the task's times. */
function stepsOf(task: Task, now: number): Step[] {
  const ended = task.finishedAt;
  return [
    { phase: 'QUEUED', label: 'Queued', at: task.submittedAt, ms: between(task.submittedAt, task.scheduledAt ?? ended, now) },
    { phase: 'SCHEDULED', label: 'Scheduled', at: task.scheduledAt, ms: between(task.scheduledAt, task.startedAt ?? ended, now) },
    { phase: 'RUNNING', label: 'Running', at: task.startedAt, ms: between(task.startedAt, task.uploadingAt ?? ended, now) },
    { phase: 'UPLOADING', label: 'Uploading', at: task.uploadingAt, ms: between(task.uploadingAt, ended, now) },
    { phase: 'ENDED', label: task.status === 'UNKNOWN' ? 'Ended' : phaseOf(task) === 'ENDED' ? task.status.toLowerCase().replace('_', ' ') : 'Ended', at: ended, ms: NaN },
  ];
}

export function Timeline({ task, now }: { task: Task; now: number }) {
  const current = ORDER.indexOf(phaseOf(task));
  return (
    <ol className="timeline" aria-label="Phases">
      {stepsOf(task, now).map((step, i) => {
        const state = i < current ? 'done' : i === current ? 'current' : 'todo';
        return (
          <li key={step.phase} className={`phase phase-${state}`} aria-current={state === 'current' ? 'step' : undefined}>
            <span className="phase-name">{step.label}</span>
            <span className="phase-time">{step.at ? formatTime(step.at) : ''}</span>
            <span className="phase-duration">{Number.isNaN(step.ms) ? '' : formatDuration(step.ms)}</span>
          </li>
        );
      })}
    </ol>
  );
}
