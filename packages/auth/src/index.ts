export {
  API_TOKEN_ID_LENGTH,
  API_TOKEN_LENGTH,
  API_TOKEN_PREFIX,
  isApiTokenId,
  type MalformedApiToken,
  newApiToken,
  type NewApiToken,
  parseApiToken,
  type ParsedApiToken,
  secretMatches,
} from './api-token.js';
export { AUTHORIZATION_METADATA, bearer, bearerFrom, type BearerToken, MAX_AUTHORIZATION_LENGTH } from './bearer.js';
export { JOIN_SECRET_PREFIX, joinSecretMatches, newJoinSecret } from './join-secret.js';
export {
  issueMasterAssertion,
  MASTER_ASSERTION_TTL_SECONDS,
  type MasterAssertionClaims,
  type MasterAudience,
  verifyMasterAssertion,
  workerAudience,
} from './master-assertion.js';
export {
  type Loaded,
  loadOrCreateSecret,
  loadOrCreateSigningKey,
  readSecret,
  type SecretSource,
} from './secret-files.js';
export {
  DEFAULT_LEEWAY_SECONDS,
  type IssueOptions,
  type IssuedClaims,
  MAX_SIGNED_TOKEN_LENGTH,
  type Verified,
  type VerifyFailure,
  type VerifyOptions,
} from './signed-token.js';
export { SigningKey, VerifyingKey } from './signing-key.js';
export { TtlCache, type TtlCacheOptions } from './ttl-cache.js';
export { issueUploadGrant, type UploadGrantClaims, type UploadGrantFields, verifyUploadGrant } from './upload-grant.js';
export { issueWorkerCredential, verifyWorkerCredential, type WorkerCredentialClaims } from './worker-credential.js';
