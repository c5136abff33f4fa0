import type { FieldTable, RecordOf } from './field.js';

/** Carries a codec's value type; never set at run time. */
declare const valueType: unique symbol;

/** Kinds stored in one SQLite column and one MongoDB field. */
export type ScalarKind =
  | 'text' // SQLite TEXT; MongoDB string
  | 'int' // SQLite INTEGER; MongoDB number
  | 'real' // SQLite REAL; MongoDB number
  | 'bool' // SQLite INTEGER 0/1; MongoDB boolean
  | 'date' // SQLite INTEGER epoch ms; MongoDB Date
  | 'bytes' // SQLite BLOB; MongoDB binary
  | 'strings' // SQLite JSON array text; MongoDB array of strings
  | 'env'; // SQLite JSON object text; MongoDB array of {name, value}

/**
 * How one record value is stored, named by kind. A codec only describes the
 * value: each adapter decides what a kind becomes (sqlite/rows.ts,
 * mongo/documents.ts), so the field tables load neither driver.
 */
export type CodecSpec =
  | { readonly kind: ScalarKind }
  /** SQL NULL; MongoDB null, and an absent field reads as null */
  | { readonly kind: 'nullable'; readonly inner: CodecSpec }
  /**
   * SQLite: one column per sub-field, named `sqlitePrefix` + its column
   * (the prefix defaults to the field's column and "_"); MongoDB: a nested object.
   */
  | { readonly kind: 'object'; readonly fields: FieldTable; readonly sqlitePrefix: string | undefined }
  /** SQLite JSON array text; MongoDB array of subdocuments. Sub-fields must be JSON values (text, numbers, bool). */
  | { readonly kind: 'list'; readonly fields: FieldTable };

/** A CodecSpec that stores values of type V. */
export type Codec<V> = CodecSpec & { readonly [valueType]?: V };

export const text: Codec<string> = { kind: 'text' };
export const int: Codec<number> = { kind: 'int' };
export const real: Codec<number> = { kind: 'real' };
export const bool: Codec<boolean> = { kind: 'bool' };
export const date: Codec<Date> = { kind: 'date' };
export const bytes: Codec<Uint8Array> = { kind: 'bytes' };
export const strings: Codec<string[]> = { kind: 'strings' };
/**
 * Environment variables. MongoDB gets name/value pairs rather than an
 * object: env names come from users, and a name containing "." or starting
 * with "$" is not a safe MongoDB field name.
 */
export const env: Codec<Record<string, string>> = { kind: 'env' };

/** Text restricted to a union of strings (statuses, states); stored as plain text. */
export function textOf<V extends string>(): Codec<V> {
  return text as Codec<V>;
}

export function nullable<V>(inner: Codec<V>): Codec<V | null> {
  return { kind: 'nullable', inner };
}

/** A value with fields of its own (resources, units, usage), flattened into columns in SQLite. */
export function object<T extends FieldTable>(
  fields: T,
  opts: { sqlitePrefix?: string } = {},
): Codec<RecordOf<T>> {
  return { kind: 'object', fields, sqlitePrefix: opts.sqlitePrefix };
}

export function list<T extends FieldTable>(fields: T): Codec<RecordOf<T>[]> {
  return { kind: 'list', fields };
}
