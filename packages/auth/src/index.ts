export {
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
