// What a scanner sends to a gRPC service, for the table-driven hostile-input
// tests of each server. The big strings are built once, when this module
// loads, and shared by every row that sends them.

const MiB = 1024 * 1024;

/** Strings no field should take as they are. */
export const HOSTILE = {
  /** bigger than any string field allows, smaller than any server's largest message */
  oneMiB: 'x'.repeat(MiB),
  /** bigger than every server's largest message (8 MiB at most) */
  tenMiB: 'x'.repeat(10 * MiB),
  nul: 'a\u0000b',
  /** ESC, a C0 control: starts terminal escape sequences */
  c0: 'a\u001b[2Jb',
  /** CSI, a C1 control: the same hazard for terminals that honour 8-bit controls */
  c1: 'a\u009b2Jb',
} as const;

/** Just past 2^53 - 1, the largest integer a JavaScript number holds exactly: a 64-bit field holding it cannot be read as a number. */
export const UNSAFE_INTEGER = 2 ** 53 + 2;

/**
 * What an unsigned 32-bit field holds when a client sends -1 (C and Go
 * clients cast it): the encoder refuses NaN, negative and fractional
 * values for integer fields, so this is the hostile integer the wire can carry.
 */
export const UINT32_MAX = 2 ** 32 - 1;

/**
 * A stand-in for a Date whose milliseconds are `ms`: the encoder only calls
 * getTime(), so times no Date can hold (past ±8.64e15 ms) can be sent.
 */
export function timeAt(ms: number): Date {
  return { getTime: () => ms } as Date;
}

/** A protobuf message of at least `size` bytes holding one unknown field, so it fits any request type. */
export function unknownFieldMessage(size: number): Uint8Array {
  const field = 1000;
  const head = [...varint((field << 3) | 2), ...varint(size)];
  const message = Buffer.alloc(head.length + size);
  message.set(head, 0);
  return message;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

interface MessageType {
  encode(message: never): { finish(): Uint8Array };
  fromPartial?(object: never): unknown;
}

interface ServiceDefinition {
  methods: Record<string, { requestType: MessageType }>;
}

/**
 * `definition` whose requests may also be given already encoded, as a
 * Uint8Array: they are sent as they are, so a test can send what no
 * generated encoder would produce.
 */
export function sendingRawRequests<D extends ServiceDefinition>(definition: D): D {
  const methods = Object.fromEntries(
    Object.entries(definition.methods).map(([key, method]) => {
      const type = method.requestType;
      const raw = (message: unknown) => message instanceof Uint8Array;
      const requestType = {
        ...type,
        // nice-grpc encodes `encode(fromPartial(request))`: both pass raw bytes through.
        fromPartial: (object: never) => (raw(object) || !type.fromPartial ? object : type.fromPartial(object)),
        encode: (message: never) =>
          raw(message) ? { finish: () => message as unknown as Uint8Array } : type.encode(message),
      };
      return [key, { ...method, requestType }];
    }),
  );
  return { ...definition, methods };
}

/** Drains a server stream, so that a refusal surfaces as the call's rejection. */
export async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of stream) n++;
  return n;
}

/** gRPC status codes by number, as the spec fixes them; for readable failures. */
const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const;
type StatusName = (typeof STATUS_NAMES)[number];

/** What a hostile input must get. */
export type Expectation =
  /** refused with `code`, the message naming `naming` (the snake_case field) */
  | { code: StatusName; naming: string; why?: string }
  /** refused by gRPC itself before any handler: the message is over the server's limit */
  | { tooBig: true }
  /** taken: `accepted` says why the value is legitimate; `check` looks at what was done with it */
  | { accepted: string; check?: (result: unknown) => Promise<void> };

export interface HostileCase {
  /** the field and what it holds: "spec.image = NUL" */
  input: string;
  send(): Promise<unknown>;
  expect: Expectation;
}

/** One row of a server's table: a case sent to one RPC. */
export interface HostileRow extends HostileCase {
  /** "TaskService.SubmitTask" */
  rpc: string;
}

/** The rows of one RPC. */
export function rpcRows(rpc: string, cases: HostileCase[]): HostileRow[] {
  return cases.map((c) => ({ rpc, ...c }));
}

export const refused = (naming: string, why?: string): Expectation => ({ code: 'INVALID_ARGUMENT', naming, ...(why ? { why } : {}) });
export const TOO_BIG: Expectation = { tooBig: true };

/**
 * Sends the row and says what is wrong with the outcome, or undefined when
 * it is what the row expects. An accepted row's `check` runs on the result.
 */
export async function judge(row: HostileCase): Promise<string | undefined> {
  let result: unknown;
  let refusal: { code: number; details: string } | undefined;
  try {
    result = await row.send();
  } catch (err) {
    const { code, details } = err as { code?: unknown; details?: unknown };
    if (typeof code !== 'number' || typeof details !== 'string') throw err;
    refusal = { code, details };
  }
  const got = refusal ? `${STATUS_NAMES[refusal.code] ?? refusal.code}: ${refusal.details.slice(0, 300)}` : 'success';
  const e = row.expect;
  if ('accepted' in e) {
    if (refusal) return `expected it to be accepted (${e.accepted}), got ${got}`;
    await e.check?.(result);
    return undefined;
  }
  if ('tooBig' in e) {
    // grpc-js's own words, so a client refusing to send it cannot pass for the server refusing it.
    if (refusal?.code === STATUS_NAMES.indexOf('RESOURCE_EXHAUSTED') && /^Received message larger than max/.test(refusal.details)) {
      return undefined;
    }
    return `expected the server to refuse the message as too large (RESOURCE_EXHAUSTED), got ${got}`;
  }
  if (refusal?.code === STATUS_NAMES.indexOf(e.code) && refusal.details.includes(e.naming)) return undefined;
  return `expected ${e.code} naming ${JSON.stringify(e.naming)}, got ${got}`;
}

/**
 * How a field treats a kind of hostile value when it does not refuse it
 * naming the field: it takes it (`check` looks at the result, given what was
 * sent), or answers something else (say why).
 */
export type Treatment =
  | 'refused'
  | { accepted: string; check?: (result: unknown, sent: string) => Promise<void> }
  | { code: StatusName; naming: string; why: string };

export interface TextRules {
  /** what the message must contain; default: the field */
  naming?: string;
  /** when the field is refused with another status than INVALID_ARGUMENT (a credential's is UNAUTHENTICATED), which and why */
  refusal?: { code: StatusName; why: string };
  /** '' is refused (default: it means "unset" and is not sent as a case) */
  required?: boolean;
  oneMiB?: Treatment;
  nul?: Treatment;
  /** ESC and CSI */
  controls?: Treatment;
}

function expectFor(t: Treatment | undefined, naming: string, sent: string, refusal?: TextRules['refusal']): Expectation {
  if (t === undefined || t === 'refused') return refusal ? { ...refusal, naming } : refused(naming);
  if ('code' in t) return t;
  const check = t.check;
  return { accepted: t.accepted, ...(check ? { check: (result: unknown) => check(result, sent) } : {}) };
}

/** Empty (when required), 1 MiB, 10 MiB, NUL, C0 and C1 control characters in a string field. */
export function textCases(field: string, send: (value: string) => Promise<unknown>, rules: TextRules = {}): HostileCase[] {
  const naming = rules.naming ?? field;
  const r = rules.refusal;
  const cases: HostileCase[] = [];
  if (rules.required) cases.push({ input: `${field} = ""`, send: () => send(''), expect: expectFor('refused', naming, '', r) });
  cases.push(
    { input: `${field} = 1 MiB`, send: () => send(HOSTILE.oneMiB), expect: expectFor(rules.oneMiB, naming, HOSTILE.oneMiB, r) },
    { input: `${field} = 10 MiB`, send: () => send(HOSTILE.tenMiB), expect: TOO_BIG },
    { input: `${field} with NUL`, send: () => send(HOSTILE.nul), expect: expectFor(rules.nul, naming, HOSTILE.nul, r) },
    { input: `${field} with ESC (C0)`, send: () => send(HOSTILE.c0), expect: expectFor(rules.controls, naming, HOSTILE.c0, r) },
    { input: `${field} with CSI (C1)`, send: () => send(HOSTILE.c1), expect: expectFor(rules.controls, naming, HOSTILE.c1, r) },
  );
  return cases;
}

export interface IdRules {
  /** what the message must contain; default: the field */
  naming?: string;
  maxLength?: number;
  /** '' is refused (default true) */
  required?: boolean;
  /** a well-formed id of nothing, which must not be refused as malformed, and what it gets */
  unknown?: { value: string; expect: Expectation };
}

/** An id field: everything textCases sends (all refused), a wrong length, a wrong charset, and `unknown`. */
export function idCases(field: string, send: (value: string) => Promise<unknown>, rules: IdRules = {}): HostileCase[] {
  const { naming = field, maxLength = 128, required = true, unknown } = rules;
  return [
    ...textCases(field, send, { naming, required }),
    { input: `${field} of ${maxLength + 1} characters`, send: () => send('a'.repeat(maxLength + 1)), expect: refused(naming) },
    { input: `${field} = "../x"`, send: () => send('../x'), expect: refused(naming) },
    { input: `${field} with a space`, send: () => send('a b'), expect: refused(naming) },
    ...(unknown
      ? [{ input: `${field} = ${JSON.stringify(unknown.value)} (well-formed, of nothing)`, send: () => send(unknown.value), expect: unknown.expect }]
      : []),
  ];
}

/** NaN, ±Infinity, negative, huge and (for whole-number fields) fractional doubles. */
export function numberCases(
  field: string,
  send: (value: number) => Promise<unknown>,
  { naming = field, whole = false, huge = 2 ** 60 }: { naming?: string; whole?: boolean; huge?: number } = {},
): HostileCase[] {
  const values: [string, number][] = [
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['-1', -1],
    [String(huge), huge],
  ];
  if (whole) values.push(['0.5', 0.5]);
  return values.map(([shown, value]) => ({ input: `${field} = ${shown}`, send: () => send(value), expect: refused(naming) }));
}

/** An enum field: an unknown value, a negative one and (unless it means a default) UNSPECIFIED. */
export function enumCases(
  field: string,
  send: (value: number) => Promise<unknown>,
  { naming = field, unspecified = 'refused' }: { naming?: string; unspecified?: Treatment } = {},
): HostileCase[] {
  return [
    { input: `${field} = 99 (unknown)`, send: () => send(99), expect: refused(naming) },
    { input: `${field} = -1`, send: () => send(-1), expect: refused(naming) },
    { input: `${field} = 0 (UNSPECIFIED)`, send: () => send(0), expect: expectFor(unspecified, naming, '0') },
  ];
}

/** A 64-bit integer field holding more than a JavaScript number can (read as INTERNAL by a naive decoder). */
export function uint64Cases(field: string, send: (value: number) => Promise<unknown>, naming = field): HostileCase[] {
  return [{ input: `${field} = 2^53 + 2`, send: () => send(UNSAFE_INTEGER), expect: refused(naming) }];
}

/** A timestamp no Date holds, one past what a JavaScript number holds, and one before year 1. */
export function timeCases(field: string, send: (value: Date) => Promise<unknown>, naming = field): HostileCase[] {
  return [
    { input: `${field} in year 31,000,000 (no valid Date)`, send: () => send(timeAt(1e18)), expect: refused(naming) },
    { input: `${field} with seconds above 2^53`, send: () => send(timeAt(2 ** 70)), expect: refused(naming) },
    { input: `${field} before year 1`, send: () => send(new Date(-1e14)), expect: refused(naming) },
  ];
}

/** A wire field name as the generated types spell it: "memory_gb" → "memoryGb". */
export function camelOf(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
}
