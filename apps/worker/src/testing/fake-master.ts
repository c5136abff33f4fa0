import { issueUploadGrant, issueWorkerCredential, newJoinSecret, SigningKey } from '@cloudai/auth';
import { newAssignmentId, newTaskId } from '@cloudai/domain';
import { TEST_IMAGE } from '@cloudai/testing';
import {
  type AppendLogsRequest,
  AssignTaskRequest,
  LogStream,
  ClusterServiceDefinition,
  TaskStatus,
  type ClusterServiceImplementation,
  type CompleteTaskRequest,
  type HeartbeatRequest,
  type RegisterWorkerRequest,
  type ReportProgressRequest,
  type ReportTaskStatusRequest,
  type RunningAssignment,
  type TaskSpec,
} from '@cloudai/proto';
import { createServer, ServerError, Status, type CallContext, type Server } from 'nice-grpc';

export type MasterEvent =
  | { kind: 'register'; request: RegisterWorkerRequest }
  | { kind: 'heartbeat'; request: HeartbeatRequest }
  | { kind: 'status'; request: ReportTaskStatusRequest }
  | { kind: 'complete'; request: CompleteTaskRequest }
  | { kind: 'progress'; request: ReportProgressRequest }
  /** an AppendLogs call as it arrived, resends included; `refused` when this fake failed it */
  | { kind: 'logs'; request: AppendLogsRequest; refused: boolean }
  /** a point the test marks in the same sequence, to assert ordering without clocks */
  | { kind: 'mark'; label: string };

/**
 * A real in-process ClusterService on 127.0.0.1 that records every call in
 * order. It can be stopped and restarted on the same port to play a master
 * restart, and told to treat assignments as stale.
 */
export class FakeMaster {
  readonly events: MasterEvent[] = [];
  /** plays the master's key: signs the worker's credential and its upload grants */
  readonly signingKey = SigningKey.generate();
  /** the join secret it expects at registration (give it to the worker as CLOUDAI_JOIN_TOKEN) */
  readonly joinSecret = newJoinSecret();
  /** the authorization header of every call, in order, with the method */
  readonly authorizations: { method: string; authorization: string | undefined }[] = [];
  heartbeatIntervalMs = 100;
  /** answered in HeartbeatResponse.known; set false to make the worker register again */
  known = true;
  /** reports for these assignment ids get FAILED_PRECONDITION */
  readonly staleAssignments = new Set<string>();
  /** sent back in every HeartbeatResponse.stale */
  staleInHeartbeat: RunningAssignment[] = [];
  /** the next ReportTaskStatus calls fail with these codes, one each, before being recorded */
  readonly failReports: Status[] = [];
  /** the next this-many AppendLogs calls fail with UNAVAILABLE (recorded as refused) */
  failLogs = 0;
  /** the next AppendLogs call of the batch starting at this seq fails with UNAVAILABLE (recorded as refused) */
  failLogsAtSeq: number | undefined;
  /** answered in AppendLogsResponse.orders_batches: false plays an older master */
  ordersBatches = true;
  /** while set, AppendLogs calls wait for it before answering: a slow or stuck master */
  holdLogs: Promise<void> | undefined;
  /** answered in AppendLogsResponse.capped */
  logsCapped = false;
  /**
   * Batches (by task and first seq) whose AppendLogs call is being answered
   * now, and the most there ever were at once. A client's retry of a call
   * still held here is the same batch, not another one in flight.
   */
  private readonly openLogBatches = new Map<string, number>();
  maxConcurrentLogCalls = 0;
  private server: Server | undefined;

  private constructor(private port: number) {}

  /** A fake master that does not listen yet, so a test file can hold it before its hooks run. */
  static create(): FakeMaster {
    return new FakeMaster(0);
  }

  static async start(): Promise<FakeMaster> {
    const master = FakeMaster.create();
    await master.listen();
    return master;
  }

  get address(): string {
    if (this.port === 0) throw new Error('the fake master is not listening yet: await listen() first');
    return `127.0.0.1:${this.port}`;
  }

  /** Drops the server at once, as a crashed master would. */
  async stop(): Promise<void> {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  /** Serves again on the same port, keeping what was recorded. */
  async restart(): Promise<void> {
    await this.stop();
    await this.listen();
  }

  mark(label: string): void {
    this.events.push({ kind: 'mark', label });
  }

  registrations(): RegisterWorkerRequest[] {
    return this.events.flatMap((e) => (e.kind === 'register' ? [e.request] : []));
  }

  heartbeats(): HeartbeatRequest[] {
    return this.events.flatMap((e) => (e.kind === 'heartbeat' ? [e.request] : []));
  }

  statuses(taskId: string): ReportTaskStatusRequest[] {
    return this.events.flatMap((e) => (e.kind === 'status' && e.request.taskId === taskId ? [e.request] : []));
  }

  completions(taskId: string): CompleteTaskRequest[] {
    return this.events.flatMap((e) => (e.kind === 'complete' && e.request.taskId === taskId ? [e.request] : []));
  }

  progressOf(taskId: string): ReportProgressRequest[] {
    return this.events.flatMap((e) => (e.kind === 'progress' && e.request.taskId === taskId ? [e.request] : []));
  }

  /** AppendLogs calls for the task, in arrival order, resends and refused ones included. */
  logCalls(taskId: string): { request: AppendLogsRequest; refused: boolean }[] {
    return this.events.flatMap((e) => (e.kind === 'logs' && e.request.taskId === taskId ? [e] : []));
  }

  /**
   * The chunks the master would have stored, in the order it stored them:
   * as the real one, only the chunks of an accepted call past the highest
   * seq stored before it (anything else it takes for a resend).
   */
  storedChunks(taskId: string): AppendLogsRequest['chunks'] {
    const stored: AppendLogsRequest['chunks'] = [];
    let through = -1;
    for (const call of this.logCalls(taskId)) {
      if (call.refused) continue;
      for (const c of call.request.chunks) {
        if (c.seq <= through) continue;
        stored.push(c);
        through = c.seq;
      }
    }
    return stored;
  }

  /** The highest seq stored for the task, -1 before any. */
  private storedThrough(taskId: string): number {
    return this.storedChunks(taskId).at(-1)?.seq ?? -1;
  }

  /** One stream's stored output, reassembled. */
  output(taskId: string, stream: 'stdout' | 'stderr'): Buffer {
    const want = stream === 'stdout' ? LogStream.LOG_STREAM_STDOUT : LogStream.LOG_STREAM_STDERR;
    return Buffer.concat(this.storedChunks(taskId).flatMap((c) => (c.stream === want ? [c.data] : [])));
  }

  /** Sum of dropped_bytes over accepted calls. */
  droppedBytes(taskId: string): number {
    return this.logCalls(taskId).reduce((n, c) => n + (c.refused ? 0 : c.request.droppedBytes), 0);
  }

  /** Position of the first event matching `match` in the recorded sequence (-1 if none). */
  indexOf(match: (e: MasterEvent) => boolean): number {
    return this.events.findIndex(match);
  }

  /** Serves on its port: a free one the first time, the same one after that. */
  async listen(): Promise<void> {
    const server = createServer();
    server.add(ClusterServiceDefinition, this.implementation());
    this.port = await server.listen(`127.0.0.1:${this.port}`);
    this.server = server;
  }

  private implementation(): ClusterServiceImplementation {
    const checkCurrent = (assignmentId: string) => {
      if (this.staleAssignments.has(assignmentId)) {
        throw new ServerError(Status.FAILED_PRECONDITION, `assignment ${assignmentId} is no longer current`);
      }
    };
    const seen = (method: string, context: CallContext) =>
      this.authorizations.push({ method, authorization: context.metadata.get('authorization') });
    return {
      registerWorker: async (request, context) => {
        seen('registerWorker', context);
        if (context.metadata.get('authorization') !== `Bearer ${this.joinSecret}`) {
          throw new ServerError(Status.UNAUTHENTICATED, 'wrong join secret (fake)');
        }
        this.events.push({ kind: 'register', request });
        this.known = true;
        return {
          heartbeatIntervalMs: this.heartbeatIntervalMs,
          stale: [],
          credential: issueWorkerCredential(this.signingKey, request.workerId),
          masterPublicKey: this.signingKey.publicKeyPem(),
        };
      },
      heartbeat: async (request, context) => {
        seen('heartbeat', context);
        this.events.push({ kind: 'heartbeat', request });
        return { known: this.known, stale: this.staleInHeartbeat };
      },
      reportTaskStatus: async (request, context) => {
        seen('reportTaskStatus', context);
        checkCurrent(request.assignmentId);
        const failure = this.failReports.shift();
        if (failure !== undefined) throw new ServerError(failure, `report refused with ${Status[failure]} (fake)`);
        this.events.push({ kind: 'status', request });
        if (request.status !== TaskStatus.TASK_STATUS_UPLOADING) return {};
        // What assignmentFor() puts in every task, as the real master would take it from the task record.
        const grant = issueUploadGrant(
          this.signingKey,
          { ...GRANTED, taskId: request.taskId, assignmentId: request.assignmentId },
          { ttlSeconds: 3600 },
        );
        return { uploadGrant: grant };
      },
      appendLogs: async (request) => {
        checkCurrent(request.assignmentId);
        const batch = `${request.taskId}/${request.chunks[0]?.seq ?? 'none'}`;
        this.openLogBatches.set(batch, (this.openLogBatches.get(batch) ?? 0) + 1);
        this.maxConcurrentLogCalls = Math.max(this.maxConcurrentLogCalls, this.openLogBatches.size);
        try {
          if (this.holdLogs) await this.holdLogs;
          const failHere = this.failLogsAtSeq !== undefined && request.chunks[0]?.seq === this.failLogsAtSeq;
          if (this.failLogs > 0 || failHere) {
            if (failHere) this.failLogsAtSeq = undefined;
            else this.failLogs--;
            this.events.push({ kind: 'logs', request, refused: true });
            throw new ServerError(Status.UNAVAILABLE, 'master is restarting (fake)');
          }
          // The real master waits up to 2 s for the batch this one follows; this one refuses at once.
          if (request.followsSeq !== undefined && this.storedThrough(request.taskId) < request.followsSeq) {
            this.events.push({ kind: 'logs', request, refused: true });
            throw new ServerError(Status.ABORTED, `chunks through seq ${request.followsSeq} are not stored (fake)`);
          }
          this.events.push({ kind: 'logs', request, refused: false });
          const last = request.chunks.at(-1)?.seq ?? 0;
          return { storedThroughSeq: last, capped: this.logsCapped, ordersBatches: this.ordersBatches };
        } finally {
          const open = (this.openLogBatches.get(batch) ?? 1) - 1;
          if (open > 0) this.openLogBatches.set(batch, open);
          else this.openLogBatches.delete(batch);
        }
      },
      completeTask: async (request) => {
        checkCurrent(request.assignmentId);
        this.events.push({ kind: 'complete', request });
        return {};
      },
      reportProgress: async (request) => {
        checkCurrent(request.assignmentId);
        this.events.push({ kind: 'progress', request });
        return {};
      },
    };
  }
}

export const RUNNING = TaskStatus.TASK_STATUS_RUNNING;
export const UPLOADING = TaskStatus.TASK_STATUS_UPLOADING;
export const SUCCEEDED = TaskStatus.TASK_STATUS_SUCCEEDED;
export const FAILED = TaskStatus.TASK_STATUS_FAILED;
export const TIMED_OUT = TaskStatus.TASK_STATUS_TIMED_OUT;

/** The user, task name and submission time assignmentFor() gives every task, and the fake master's grants name. */
export const GRANTED = { userId: 'tester', taskName: 'test-task', submittedAt: Date.parse('2025-01-02T03:04:05.678Z') };

/** An AssignTask request for `workerId` with fresh ids and small limits, overridable per field. */
export function assignmentFor(workerId: string, spec: Partial<TaskSpec>): AssignTaskRequest {
  const taskId = newTaskId();
  return AssignTaskRequest.fromPartial({
    assignment: {
      assignmentId: newAssignmentId(),
      taskId,
      workerId,
      attempt: 1,
      task: {
        taskId,
        taskName: GRANTED.taskName,
        userId: GRANTED.userId,
        submittedAt: new Date(GRANTED.submittedAt),
        spec: {
          image: TEST_IMAGE,
          command: [],
          env: {},
          resources: { cpu: 0.5, memoryGb: 0.125, storageGb: 0, gpu: 0 },
          taskName: 'test-task',
          timeoutSeconds: 0,
          network: false,
          ...spec,
        },
      },
    },
  });
}
