import type { SQLInputValue } from 'node:sqlite';
import type { CodecSpec, ScalarKind } from '../fields/codecs.js';
import type { FieldTable, RecordOf } from '../fields/field.js';
import { recordMapping, type FieldAccess, type RecordMapping, type Stored } from '../fields/mapping.js';

/** Named parameters for a statement, keyed by column. */
export type Row = Record<string, SQLInputValue>;

export interface ColumnInfo {
  name: string;
  /** the STRICT column type the migrations must have created */
  type: 'TEXT' | 'INTEGER' | 'REAL' | 'BLOB';
  nullable: boolean;
}

/** A record type's SQLite columns and conversions, derived once from its field table. */
export interface RowMapping<R> extends RecordMapping<R, Row> {
  /** every column, in table order */
  readonly columns: readonly ColumnInfo[];
}

/** How one field (or sub-field) becomes columns and back. */
interface ColumnCodec extends FieldAccess {
  columns: ColumnInfo[];
}

interface ScalarCodec {
  type: ColumnInfo['type'];
  encode(value: unknown): SQLInputValue;
  decode(stored: unknown): unknown;
}

const same = (v: unknown) => v as SQLInputValue;

/** Every value kind that takes one column; see CodecSpec for what each is. */
const SCALARS: Record<ScalarKind, ScalarCodec> = {
  text: { type: 'TEXT', encode: same, decode: (v) => v },
  int: { type: 'INTEGER', encode: same, decode: (v) => v },
  real: { type: 'REAL', encode: same, decode: (v) => v },
  bool: { type: 'INTEGER', encode: (v) => (v ? 1 : 0), decode: (v) => v === 1 },
  date: { type: 'INTEGER', encode: (v) => (v as Date).getTime(), decode: (v) => new Date(v as number) },
  bytes: { type: 'BLOB', encode: same, decode: (v) => v },
  strings: { type: 'TEXT', encode: (v) => JSON.stringify(v), decode: (v) => JSON.parse(v as string) },
  // JSON.parse defines own properties, so an env name "__proto__" stays data.
  env: { type: 'TEXT', encode: (v) => JSON.stringify(v), decode: (v) => JSON.parse(v as string) },
};

export function rowMapping<T extends FieldTable>(table: T): RowMapping<RecordOf<T>> {
  const columns: ColumnInfo[] = [];
  const mapping = recordMapping<T, Row>(table, (f) => {
    const codec = columnCodec(f.codec, f.column);
    columns.push(...codec.columns);
    return codec;
  });
  return { ...mapping, columns };
}

function columnCodec(spec: CodecSpec, column: string): ColumnCodec {
  switch (spec.kind) {
    case 'nullable': {
      const inner = columnCodec(spec.inner, column);
      const first = inner.columns[0]?.name ?? column;
      return {
        columns: inner.columns.map((c) => ({ ...c, nullable: true })),
        write(value, row) {
          if (value !== null) return inner.write(value, row);
          for (const c of inner.columns) row[c.name] = null;
        },
        read: (row) => (row[first] === null || row[first] === undefined ? null : inner.read(row)),
      };
    }
    case 'object': {
      const prefix = spec.sqlitePrefix ?? `${column}_`;
      const columns: ColumnInfo[] = [];
      const sub = recordMapping(spec.fields, (f) => {
        const codec = columnCodec(f.codec, prefix + f.column);
        columns.push(...codec.columns);
        return codec;
      });
      return {
        columns,
        write(value, row) {
          Object.assign(row, sub.encode(value as never));
        },
        read: (row) => sub.decode(row),
      };
    }
    case 'list': {
      // JSON of the sub-fields under their column names, as MongoDB stores them.
      const item = recordMapping(spec.fields, (f) => ({
        write(value, into) {
          into[f.column] = value;
        },
        read: (from) => from[f.column],
      }));
      return {
        columns: [{ name: column, type: 'TEXT', nullable: false }],
        write(value, row) {
          row[column] = JSON.stringify((value as never[]).map((v) => item.encode(v)));
        },
        read: (row) => (JSON.parse(row[column] as string) as Stored[]).map((v) => item.decode(v)),
      };
    }
    default: {
      const scalar = SCALARS[spec.kind];
      return {
        columns: [{ name: column, type: scalar.type, nullable: false }],
        write(value, row) {
          row[column] = scalar.encode(value);
        },
        read: (row) => scalar.decode(row[column]),
      };
    }
  }
}

/** `INSERT INTO <table> (<every column>) VALUES (<a named parameter each>)`, for rows from `encode`. */
export function insertSql(table: string, mapping: RowMapping<unknown>, verb = 'INSERT'): string {
  const names = mapping.columns.map((c) => c.name);
  return `${verb} INTO ${table} (${names.join(', ')}) VALUES (${names.map((n) => `:${n}`).join(', ')})`;
}

/** An insert that replaces every other column of the row with the same `key`, returning the row. */
export function upsertSql(table: string, mapping: RowMapping<unknown>, key: string): string {
  const others = mapping.columns.filter((c) => c.name !== key).map((c) => `${c.name} = excluded.${c.name}`);
  return `${insertSql(table, mapping)} ON CONFLICT (${key}) DO UPDATE SET ${others.join(', ')} RETURNING *`;
}

/** `a = :a, b = :b` for the columns of a row from `encodeSome`. */
export function setClause(row: Row): string {
  return Object.keys(row)
    .map((name) => `${name} = :${name}`)
    .join(', ');
}
