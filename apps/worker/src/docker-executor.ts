import { abortable } from 'abort-controller-x';
import type Docker from 'dockerode';
import type { Logger } from '@cloudai/logger';
import type { LogStreamName } from '@cloudai/domain';
import { fullCollector, youngCollector } from '@cloudai/rpc';
import { DockerDemuxer } from './demux.js';

const GiB = 1024 ** 3;

/** Labels every task container carries, so a restarted worker can find its leftovers. */
export const LABEL_TASK_ID = 'cloudai.task_id';
export const LABEL_ASSIGNMENT_ID = 'cloudai.assignment_id';
export const LABEL_WORKER_ID = 'cloudai.worker_id';

export interface ContainerSpec {
  taskId: string;
  assignmentId: string;
  image: string;
  /** argv; empty = the image's default command */
  command: readonly string[];
  env: Readonly<Record<string, string>>;
  cpu: number;
  memoryGb: number;
  /** true = the engine's default network; false = none */
  network: boolean;
}

export type RunOutcome =
  /** the task's process ended on its own */
  | { kind: 'exited'; containerId: string; exitCode: number; oomKilled: boolean }
  /** the signal was aborted and the container was stopped (or never started) */
  | { kind: 'stopped'; containerId: string | undefined };

export interface RunOptions {
  /** aborting it stops the container; a StopRequest reason chooses the grace */
  signal: AbortSignal;
  /** called once the container has started */
  onStarted?: (containerId: string) => void;
  /**
   * Receives the container's output from its first byte (attached before
   * start), demultiplexed. Called synchronously from the stream: it must
   * not block.
   */
  onOutput?: (stream: LogStreamName, data: Buffer) => void;
  /** absolute host folder bound read-write at the executor's output path */
  outputDir?: string;
}

/**
 * An abort reason that says how long the container gets between SIGTERM and
 * SIGKILL (0 = SIGKILL at once).
 */
export class StopRequest extends Error {
  constructor(
    message: string,
    readonly graceSeconds: number,
  ) {
    super(message);
    this.name = 'StopRequest';
  }
}

export class ImageUnavailableError extends Error {
  override name = 'ImageUnavailableError';
}

export interface DockerExecutorOptions {
  workerId: string;
  pidsLimit: number;
  /** default seconds between SIGTERM and SIGKILL when no StopRequest says otherwise */
  stopGraceSeconds: number;
  /** where a task's output folder appears inside its container (WORKER_OUTPUT_PATH) */
  outputPath: string;
  logger: Logger;
}

/**
 * How long to wait, after the container exited, for the rest of its output
 * to come through the attach stream. The engine ends the stream right after
 * the exit; this only guards against a stream that never ends.
 */
const OUTPUT_DRAIN_MS = 10_000;

/** The worker's only door to the Docker engine. */
export class DockerExecutor {
  private readonly log: Logger;

  constructor(
    private readonly docker: Docker,
    private readonly options: DockerExecutorOptions,
  ) {
    this.log = options.logger.child({ component: 'docker' });
  }

  /** Fails with a message saying where the engine was looked for. */
  async ping(signal: AbortSignal): Promise<void> {
    try {
      // @types/dockerode omits ping's options; dockerode itself takes abortSignal.
      await this.docker.ping({ abortSignal: signal } as never);
    } catch (err) {
      const where = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
      throw new Error(`cannot reach the Docker engine at ${where}: ${dockerMessage(err)}`, { cause: err });
    }
  }

  /** Makes `image` present locally, pulling it if needed (after `onPull` has run). */
  async ensureImage(image: string, signal: AbortSignal, onPull?: () => Promise<void>): Promise<void> {
    try {
      // Image inspect takes no abort signal in dockerode; stop waiting instead.
      await abortable(signal, this.docker.getImage(image).inspect());
      return;
    } catch (err) {
      signal.throwIfAborted();
      if (statusCode(err) !== 404) throw err;
    }
    this.log.info({ image }, 'image not present locally; pulling');
    await onPull?.();
    try {
      const stream = await this.docker.pull(image, { abortSignal: signal });
      const events = await new Promise<PullEvent[]>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, output: PullEvent[]) =>
          err ? reject(err) : resolve(output),
        );
      });
      // An aborted request ends the stream as if it had finished.
      signal.throwIfAborted();
      // The engine reports pull failures inside a 200 response, as an event.
      const failure = events.find((e) => e.error !== undefined || e.errorDetail !== undefined);
      if (failure) throw new Error(failure.errorDetail?.message ?? failure.error ?? 'unknown pull error');
    } catch (err) {
      signal.throwIfAborted();
      throw new ImageUnavailableError(
        `image ${image} is not available locally and could not be pulled: ${dockerMessage(err)}`,
        { cause: err },
      );
    }
    this.log.info({ image }, 'image pulled');
  }

  /**
   * Creates, starts and waits for the task's container, then removes it.
   * Aborting `signal` stops the container; the container is removed however
   * this ends.
   */
  async run(spec: ContainerSpec, options: RunOptions): Promise<RunOutcome> {
    const { signal } = options;
    const name = containerName(spec.assignmentId);
    let containerId: string | undefined;
    let attached: NodeJS.ReadableStream | undefined;
    try {
      signal.throwIfAborted();
      const container = await this.docker.createContainer({
        ...this.createOptions(spec, name, options.outputDir),
        abortSignal: signal,
      });
      containerId = container.id;
      // Attached before start: what the task writes in its first instant is
      // already on its way, not lost to a race with a later attach.
      let outputEnded: Promise<void> = Promise.resolve();
      if (options.onOutput) {
        attached = (await container.attach({ stream: true, stdout: true, stderr: true })) as NodeJS.ReadableStream;
        outputEnded = this.pump(attached, options.onOutput, container.id);
      }
      signal.throwIfAborted();
      await container.start({ abortSignal: signal });
      options.onStarted?.(container.id);
      try {
        await container.wait({ abortSignal: signal });
      } catch (err) {
        if (!signal.aborted) throw err;
        await this.stop(container, graceFor(signal, this.options.stopGraceSeconds));
        return { kind: 'stopped', containerId };
      }
      await this.drained(outputEnded, container.id);
      const state = (await container.inspect()).State;
      return { kind: 'exited', containerId, exitCode: state.ExitCode, oomKilled: state.OOMKilled };
    } catch (err) {
      if (signal.aborted) return { kind: 'stopped', containerId };
      throw err;
    } finally {
      // Ends our side of the attach however this ended (a no-op once it has ended).
      (attached as { destroy?: () => void } | undefined)?.destroy?.();
      // By name, not id: an aborted create may still have made the container.
      await this.remove(name);
    }
  }

  /** Feeds the attach stream through the demultiplexer; resolves when the stream ends. */
  private pump(
    stream: NodeJS.ReadableStream,
    onOutput: (stream: LogStreamName, data: Buffer) => void,
    containerId: string,
  ): Promise<void> {
    const demux = new DockerDemuxer(onOutput);
    // The socket's read buffers die once demultiplexed and copied: collected
    // young every 2 MiB of a burst rather than piling up (see youngCollector);
    // what outlived that (chunks on their way through the spool and to the
    // master) goes at a full collection every 32 MiB, where V8 would wait
    // for 64 MiB of it. The worker's RSS under a 200 MiB burst: 132–136 MiB
    // with both, 151–155 with young ones every 2 MiB, 175–192 every 8 MiB.
    const collectYoung = youngCollector(2 * 1024 * 1024);
    const collectFull = fullCollector(32 * 1024 * 1024);
    return new Promise<void>((resolve) => {
      // Flowing mode, never paused: a full log buffer drops output instead
      // of stalling the container on a full pipe.
      stream.on('data', (chunk: Buffer) => {
        demux.push(chunk);
        collectYoung(chunk.length);
        collectFull(chunk.length);
      });
      stream.once('end', () => resolve());
      stream.once('close', () => resolve());
      stream.once('error', (err) => {
        this.log.warn({ err, containerId }, 'the container output stream failed; later output is lost');
        resolve();
      });
    });
  }

  private async drained(outputEnded: Promise<void>, containerId: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), OUTPUT_DRAIN_MS);
    });
    const late = await Promise.race([outputEnded.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) this.log.warn({ containerId }, 'the container output stream did not end after the exit; closing it');
  }

  /** Removes containers an earlier process of this worker left behind; returns how many. */
  async removeLeftovers(signal: AbortSignal): Promise<number> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_WORKER_ID}=${this.options.workerId}`] },
      abortSignal: signal,
    });
    for (const c of list) {
      this.log.warn(
        { containerId: c.Id, taskId: c.Labels[LABEL_TASK_ID], assignmentId: c.Labels[LABEL_ASSIGNMENT_ID] },
        'removing a container left by a previous worker process',
      );
      await this.remove(c.Id);
    }
    return list.length;
  }

  private createOptions(spec: ContainerSpec, name: string, outputDir: string | undefined): Docker.ContainerCreateOptions {
    const memory = Math.round(spec.memoryGb * GiB);
    return {
      name,
      Image: spec.image,
      ...(spec.command.length > 0 ? { Cmd: [...spec.command] } : {}),
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      Labels: {
        [LABEL_TASK_ID]: spec.taskId,
        [LABEL_ASSIGNMENT_ID]: spec.assignmentId,
        [LABEL_WORKER_ID]: this.options.workerId,
      },
      // Not attached to stdin, and no TTY: output comes multiplexed (8-byte
      // frame headers), which is what keeps stdout and stderr apart.
      Tty: false,
      OpenStdin: false,
      HostConfig: {
        // cloudai keeps the log (attached before start); a second copy in
        // Docker's json-file driver would cost the daemon CPU and disk for nothing.
        LogConfig: { Type: 'none', Config: {} },
        ...(outputDir ? { Binds: [`${outputDir}:${this.options.outputPath}:rw`] } : {}),
        NanoCpus: Math.round(spec.cpu * 1e9),
        Memory: memory,
        // Equal to Memory: no swap, so the limit is the limit.
        MemorySwap: memory,
        PidsLimit: this.options.pidsLimit,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        NetworkMode: spec.network ? 'default' : 'none',
        Privileged: false,
        // We read the exit code and OOM flag before removing it ourselves.
        AutoRemove: false,
      },
    };
  }

  /** Kills a container without a grace; one already stopped or gone is no error. */
  kill(containerId: string): Promise<void> {
    return this.stop(this.docker.getContainer(containerId), 0);
  }

  private async stop(container: Docker.Container, graceSeconds: number): Promise<void> {
    try {
      if (graceSeconds === 0) await container.kill();
      else await container.stop({ t: graceSeconds });
    } catch (err) {
      // 304/404/409: it already stopped or is gone, which is what we wanted.
      const code = statusCode(err);
      if (code !== 304 && code !== 404 && code !== 409) {
        this.log.warn({ err, containerId: container.id }, 'could not stop container; removing it by force');
      }
    }
  }

  private async remove(nameOrId: string): Promise<void> {
    try {
      await this.docker.getContainer(nameOrId).remove({ force: true, v: true });
    } catch (err) {
      const code = statusCode(err);
      // 404: never created or already gone. 409: removal already in progress.
      if (code !== 404 && code !== 409) this.log.error({ err, container: nameOrId }, 'could not remove container');
    }
  }
}

interface PullEvent {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Containers are named after their assignment so a lost create can be found and removed. */
export function containerName(assignmentId: string): string {
  return `cloudai-${assignmentId}`;
}

function graceFor(signal: AbortSignal, fallback: number): number {
  return signal.reason instanceof StopRequest ? signal.reason.graceSeconds : fallback;
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The engine's own words where there are some, without dockerode's "(HTTP code N)" wrapper. */
export function dockerMessage(err: unknown): string {
  const json = (err as { json?: unknown } | null)?.json;
  if (json && typeof json === 'object' && 'message' in json && typeof json.message === 'string') {
    return json.message.trim();
  }
  return err instanceof Error ? err.message.trim() : String(err);
}
