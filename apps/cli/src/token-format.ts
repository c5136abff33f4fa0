import { z } from 'zod';

// The shape of a user's API token, "cai_<16-character id>_<43-character
// secret>", checked before anything is sent so a mistyped or truncated token
// fails here with a reason. Neither the checks nor their messages ever repeat
// the token: it is a secret even when it is wrong.

const PREFIX = 'cai_';
const ID_LENGTH = 16;
const SECRET_LENGTH = 43;
const TOKEN_LENGTH = PREFIX.length + ID_LENGTH + 1 + SECRET_LENGTH;
const TOKEN_CHARS = '[A-Za-z0-9_-]';
const TOKEN_PATTERN = new RegExp(`^${PREFIX}${TOKEN_CHARS}{${ID_LENGTH}}_${TOKEN_CHARS}{${SECRET_LENGTH}}$`);
const TOKEN_ID_PATTERN = new RegExp(`^${TOKEN_CHARS}{${ID_LENGTH}}$`);
const EMBEDDED_TOKEN = new RegExp(`${PREFIX}${TOKEN_CHARS}{${ID_LENGTH}}_${TOKEN_CHARS}{${SECRET_LENGTH}}`, 'g');

export const TOKEN_SHAPE = `${PREFIX}<${ID_LENGTH}-character id>_<${SECRET_LENGTH}-character secret>`;

/** Why `token` cannot be a cloudai token, or undefined when its shape is right. */
export function tokenProblem(token: string): string | undefined {
  if (token === '') return 'it is empty';
  if (/\s/.test(token)) return 'it contains whitespace';
  if (!token.startsWith(PREFIX)) return `it does not start with ${PREFIX}`;
  if (token.length !== TOKEN_LENGTH) return `it has ${token.length} characters, a token has ${TOKEN_LENGTH}`;
  if (!TOKEN_PATTERN.test(token)) return `it is not ${TOKEN_SHAPE} made of letters, digits, _ and -`;
  return undefined;
}

/** A token id as `cloudai tokens list` shows it: the public part, never a secret. */
export const tokenIdSchema = (field: string) =>
  z.string().superRefine((raw, ctx) => {
    if (TOKEN_ID_PATTERN.test(raw)) return;
    // A whole token pasted where its id belongs must not be echoed back.
    const message = raw.startsWith(PREFIX)
      ? `${field} must be a token id, not the token itself: the ${ID_LENGTH} characters after ${PREFIX}`
      : `${field} must be the ${ID_LENGTH}-character token id \`cloudai tokens list\` shows`;
    ctx.addIssue({ code: 'custom', message });
  });

/**
 * Hides anything shaped like a token in text bound for the terminal: a server
 * message that quotes the token it refused must not print it. Every token the
 * CLI sends has that shape, as it is checked first.
 */
export function redactTokens(text: string): string {
  return text.replace(EMBEDDED_TOKEN, `${PREFIX}<redacted>`);
}
