import { bearerFrom, verifyMasterAssertion, VerifyingKey, workerAudience } from '@cloudai/auth';
import { DomainError, unauthenticated } from '@cloudai/rpc';
import { Status, type CallContext } from 'nice-grpc';

/**
 * What this worker knows of the master it registered with: the credential
 * for its own calls to the master, and the master's public key, which is
 * the only thing that lets a caller of this worker's API through.
 */
export class MasterSession {
  private workerCredential: string | undefined;
  private masterKey: VerifyingKey | undefined;

  constructor(
    private readonly workerId: string,
    /** the cluster's join secret: what registration is made with */
    readonly joinSecret: string,
  ) {}

  /** Takes what a successful registration answered. */
  registered(credential: string, masterPublicKeyPem: string): void {
    if (!credential) throw new Error('the master answered the registration without a worker credential');
    this.masterKey = VerifyingKey.fromPem(masterPublicKeyPem);
    this.workerCredential = credential;
  }

  /** The bearer for calls to the master: the worker credential once registered. */
  credential = (): string | undefined => this.workerCredential;

  /**
   * For the WorkerService's `authenticate`: a call must carry the master's
   * assertion for this worker. Anyone else who can reach the port (another
   * worker, a user, a scanner) is refused before a handler runs.
   */
  authenticate = async (_method: string, context: CallContext): Promise<object> => {
    if (!this.masterKey) throw unauthenticated('this worker has not registered with a master yet');
    const presented = bearerFrom(context.metadata.getAll('authorization'));
    if (!presented.ok) {
      throw new DomainError(Status.UNAUTHENTICATED, `only the master may call a worker: ${presented.message}`);
    }
    const verified = verifyMasterAssertion(presented.token, this.masterKey, workerAudience(this.workerId));
    if (!verified.ok) throw unauthenticated(`the master's assertion was refused: ${verified.message}`);
    return {};
  };
}
