import {
  issueMasterAssertion,
  issueUploadGrant,
  issueWorkerCredential,
  type MasterAudience,
  type SigningKey,
} from '@cloudai/auth';

/** How long the master's assertions to workers and storage last; they are reissued well before. */
const ASSERTION_TTL_S = 10 * 60;
/** How long an upload grant lasts; a worker still uploading after that asks for a new one. */
export const UPLOAD_GRANT_TTL_S = 60 * 60;

export interface GrantedUpload {
  taskId: string;
  assignmentId: string;
  userId: string;
  taskName: string;
  submittedAt: Date;
}

/** What the master signs: workers' credentials, upload grants, and its own calls to workers and storage. */
export class MasterCredentials {
  private readonly assertions = new Map<string, { token: string; renewAt: number }>();

  constructor(private readonly key: SigningKey) {}

  get publicKeyPem(): string {
    return this.key.publicKeyPem();
  }

  /** A worker's credential for its cluster-API calls, bound to its id. */
  workerCredential(workerId: string): string {
    return issueWorkerCredential(this.key, workerId);
  }

  /** The grant a worker shows storage to upload one assignment's outputs. */
  uploadGrant(upload: GrantedUpload): string {
    return issueUploadGrant(
      this.key,
      {
        taskId: upload.taskId,
        assignmentId: upload.assignmentId,
        userId: upload.userId,
        taskName: upload.taskName,
        submittedAt: upload.submittedAt.getTime(),
      },
      { ttlSeconds: UPLOAD_GRANT_TTL_S },
    );
  }

  /** The master's assertion for calls to `audience` ("storage" or "worker:<id>"), reused until half its life is gone. */
  assertionFor(audience: MasterAudience): string {
    const now = Date.now();
    const cached = this.assertions.get(audience);
    if (cached && cached.renewAt > now) return cached.token;
    const token = issueMasterAssertion(this.key, audience, { ttlSeconds: ASSERTION_TTL_S });
    this.assertions.set(audience, { token, renewAt: now + (ASSERTION_TTL_S * 1000) / 2 });
    return token;
  }
}
