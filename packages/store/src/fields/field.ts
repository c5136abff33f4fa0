import type { Codec } from './codecs.js';

/**
 * One field of a record: its key is the table's key; this says where and how
 * both adapters store it. `Patch` and `Defaulted` are the options as types,
 * so a record's patch and its optional fields can be derived.
 */
export interface Field<V, Patch extends boolean = boolean, Defaulted extends boolean = boolean> {
  /** the SQLite column and the MongoDB field, snake_case (object values prefix or nest their own under it) */
  readonly column: string;
  readonly codec: Codec<V>;
  /** whether a conditional update may set it */
  readonly patch: Patch;
  /**
   * Its value in a record that does not say: what a MongoDB document written
   * before the field existed reads as, and what a new record gets unless
   * given (see newTaskRecord). Nullable fields default to null.
   */
  readonly default: Defaulted extends true ? V : undefined;
}

/** A record's fields, keyed by the record's own field names, in storage order. */
export interface FieldTable {
  readonly [key: string]: Field<unknown>;
}

interface FieldOptions<V> {
  readonly patch?: true;
  readonly default?: V;
}

/** The Field that `field(column, codec, options)` declares: a default is one given, or null for a nullable field. */
type DeclaredField<V, O extends FieldOptions<V>> = Field<
  V,
  O['patch'] extends true ? true : false,
  O extends { default: unknown } ? true : null extends V ? true : false
>;

/** Declares a field; see Field. */
export function field<V, O extends FieldOptions<NoInfer<V>> = FieldOptions<never>>(
  column: string,
  codec: Codec<V>,
  options?: O,
): DeclaredField<V, O> {
  const fallback = options?.default ?? (codec.kind === 'nullable' ? null : undefined);
  return { column, codec, patch: options?.patch === true, default: fallback } as DeclaredField<V, O>;
}

/** The fields a table must declare to describe an existing record type R (a domain type). */
export type FieldsOf<R> = { readonly [K in keyof R]-?: Field<R[K]> };

/** The record a field table describes. */
export type RecordOf<T extends FieldTable> = { -readonly [K in keyof T]: ValueOf<T[K]> };

type ValueOf<F> = F extends { readonly codec: Codec<infer V> } ? V : never;

/** Keys of the fields a conditional update may set. */
export type PatchKeys<T extends FieldTable> = {
  [K in keyof T]: T[K] extends Field<unknown, true> ? K : never;
}[keyof T];

/** Keys of the fields that have a default, and so may be left out of a new record. */
export type DefaultedKeys<T extends FieldTable> = {
  [K in keyof T]: T[K] extends Field<unknown, boolean, true> ? K : never;
}[keyof T];

/** A record's defaulted fields set to their defaults (fresh copies: defaults may be arrays or objects). */
export function defaultsOf<T extends FieldTable>(table: T): Pick<RecordOf<T>, DefaultedKeys<T>> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(table)) {
    if (f.default !== undefined) out[key] = structuredClone(f.default);
  }
  return out as Pick<RecordOf<T>, DefaultedKeys<T>>;
}

/**
 * The patch's defined entries in table order (so equal shapes share one
 * prepared statement). A field the table does not mark patchable is a
 * caller bug, not something to drop quietly.
 */
export function checkedPatch<T extends FieldTable>(
  table: T,
  patch: Partial<Pick<RecordOf<T>, PatchKeys<T>>>,
  what: string,
): Partial<RecordOf<T>> {
  const given = patch as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (table[key]?.patch !== true) throw new RangeError(`${what}: field "${key}" cannot be patched`);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(table)) {
    if (given[key] !== undefined) out[key] = given[key];
  }
  return out as Partial<RecordOf<T>>;
}
