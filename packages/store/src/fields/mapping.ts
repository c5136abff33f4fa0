import type { Field, FieldTable, RecordOf } from './field.js';

/** A record's stored form in one adapter: a row's columns, a document's fields. */
export type Stored = Record<string, unknown>;

/** How an adapter writes one field into its stored form, and reads it back. */
export interface FieldAccess {
  write(value: unknown, into: Stored): void;
  read(from: Stored): unknown;
}

/** Whole-record conversions, derived from a field table. */
export interface RecordMapping<R, S extends Stored = Stored> {
  /** The complete record's stored form; a field left undefined throws (a caller bug). */
  encode(record: R): S;
  /** The stored form of the fields given; undefined ones are left out (for updates). */
  encodeSome(record: Partial<R>): S;
  decode(stored: Stored): R;
}

/**
 * A record mapping from the adapter's access to each field. `access` is
 * called once per field, in table order, before this returns, so an adapter
 * may collect what else it derives (columns, schema paths) as it goes.
 */
export function recordMapping<T extends FieldTable, S extends Stored = Stored>(
  table: T,
  access: (field: Field<unknown>) => FieldAccess,
): RecordMapping<RecordOf<T>, S> {
  const fields = Object.entries(table).map(([key, f]) => ({ key, access: access(f) }));
  const write = (record: object, complete: boolean): S => {
    const given = record as Record<string, unknown>;
    const out: Stored = {};
    for (const f of fields) {
      const value = given[f.key];
      if (value !== undefined) f.access.write(value, out);
      else if (complete) throw new TypeError(`record has no ${f.key}`);
    }
    return out as S;
  };
  return {
    encode: (record) => write(record, true),
    encodeSome: (record) => write(record, false),
    decode(stored) {
      const record: Record<string, unknown> = {};
      for (const f of fields) record[f.key] = f.access.read(stored);
      return record as RecordOf<T>;
    },
  };
}
