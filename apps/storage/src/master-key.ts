import { readFile } from 'node:fs/promises';
import { bearerFrom, verifyMasterAssertion, verifyUploadGrant, VerifyingKey } from '@cloudai/auth';
import { DomainError, unauthenticated, unavailable } from '@cloudai/rpc';
import { Status, type CallContext } from 'nice-grpc';
import type { UploadMeta } from './outputs.js';

const UPLOAD_PATH = '/cloudai.v1.StorageService/UploadOutputs';

/**
 * Storage trusts no caller by name, only the master's signature: uploads
 * need a grant the master signed for that one assignment, and listing,
 * downloading and deleting need the master's assertion. The master's public
 * key is read from its file when first needed (the master writes it on its
 * first start, which may come after storage's).
 */
export class MasterKey {
  private key: VerifyingKey | undefined;

  constructor(private readonly file: string) {}

  /** For startGrpcServer's `authenticate`. UploadOutputs is let through: its grant is in its first message. */
  authenticate = async (method: string, context: CallContext): Promise<object> => {
    if (method === UPLOAD_PATH) return {};
    const presented = bearerFrom(context.metadata.getAll('authorization'));
    if (!presented.ok) {
      throw new DomainError(Status.UNAUTHENTICATED, `only the master may call ${method}: ${presented.message}`);
    }
    const verified = verifyMasterAssertion(presented.token, await this.load(), 'storage');
    if (!verified.ok) throw unauthenticated(`the master's assertion was refused: ${verified.message}`);
    return {};
  };

  /** Where to file an upload, from its grant; refuses a missing, forged or expired one. */
  async uploadOf(grant: string): Promise<UploadMeta> {
    if (!grant) throw unauthenticated('header.grant is required: uploads need the master\'s grant for the assignment');
    const verified = verifyUploadGrant(grant, await this.load());
    if (!verified.ok) throw unauthenticated(`upload grant refused: ${verified.message}`);
    const c = verified.claims;
    return {
      taskId: c.taskId,
      assignmentId: c.assignmentId,
      userId: c.userId,
      taskName: c.taskName,
      submittedAt: new Date(c.submittedAt),
    };
  }

  private async load(): Promise<VerifyingKey> {
    if (this.key) return this.key;
    let pem: string;
    try {
      pem = await readFile(this.file, 'utf8');
    } catch (err) {
      throw unavailable(
        `storage cannot check the master's signature: ${this.file} (CLOUDAI_MASTER_PUBLIC_KEY_FILE) is not readable (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    this.key = VerifyingKey.fromPem(pem);
    return this.key;
  }
}
