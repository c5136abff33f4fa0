import mongoose, { Schema, type SchemaDefinition } from 'mongoose';
import type { CodecSpec, ScalarKind } from '../fields/codecs.js';
import type { FieldTable, RecordOf } from '../fields/field.js';
import { recordMapping, type RecordMapping, type Stored } from '../fields/mapping.js';

/** Every schema: no `__v` (updates are conditional on real fields instead), unknown fields are errors. */
export const SCHEMA_OPTIONS = { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false } as const;

/** A record type's MongoDB document shape and conversions, derived once from its field table. */
export interface DocMapping<R> extends RecordMapping<R> {
  /** the mongoose schema paths */
  readonly definition: SchemaDefinition;
}

/** How one value becomes a document value and back; `path` is its schema type. */
interface ValueCodec {
  encode(value: unknown): unknown;
  decode(stored: unknown): unknown;
  path: SchemaDefinition[string];
  /** a nested object: its path is the nested definition itself, which takes no required or default */
  nested: boolean;
}

const same = (v: unknown) => v;

const SCALARS: Record<ScalarKind, Omit<ValueCodec, 'nested'>> = {
  text: { path: { type: String }, encode: same, decode: same },
  int: { path: { type: Number }, encode: same, decode: same },
  real: { path: { type: Number }, encode: same, decode: same },
  bool: { path: { type: Boolean }, encode: same, decode: same },
  date: { path: { type: Date }, encode: same, decode: same },
  bytes: {
    path: { type: Buffer },
    // A view, not a copy: the driver serializes it straight into the message.
    encode: (v) => {
      const b = v as Uint8Array;
      return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    },
    decode: toBytes,
  },
  strings: { path: { type: [String] }, encode: (v) => [...(v as string[])], decode: (v) => [...(v as string[])] },
  env: {
    path: { type: [new Schema({ name: String, value: String }, { _id: false, ...SCHEMA_OPTIONS })] },
    encode: (v) => Object.entries(v as Record<string, string>).map(([name, value]) => ({ name, value })),
    // Object.fromEntries defines own properties, so an env name "__proto__"
    // stays data instead of replacing the object's prototype.
    decode: (v) => Object.fromEntries((v as { name: string; value: string }[]).map((e) => [e.name, e.value])),
  },
};

/** Reads a field the document lacks (written before the field existed) as the field's default. */
export function docMapping<T extends FieldTable>(table: T): DocMapping<RecordOf<T>> {
  const definition: SchemaDefinition = {};
  const mapping = recordMapping(table, (f) => {
    const codec = valueCodec(f.codec);
    definition[f.column] = schemaPath(codec, f.default);
    return {
      write(value, doc) {
        doc[f.column] = codec.encode(value);
      },
      read(doc) {
        const stored = doc[f.column];
        if (stored !== undefined && stored !== null) return codec.decode(stored);
        return f.default === undefined ? stored : structuredClone(f.default);
      },
    };
  });
  return { ...mapping, definition };
}

/**
 * A field without a default is `required`. Mongoose's required validator
 * rejects '', so text that may be empty (reason, address) needs a default.
 */
function schemaPath(codec: ValueCodec, fallback: unknown): SchemaDefinition[string] {
  if (codec.nested) return codec.path;
  if (fallback === undefined) return { ...(codec.path as object), required: true };
  return { ...(codec.path as object), default: codec.encode(fallback) };
}

function valueCodec(spec: CodecSpec): ValueCodec {
  switch (spec.kind) {
    case 'nullable': {
      // The caller handles null; the field's default (null) fills absent ones.
      const inner = valueCodec(spec.inner);
      return { ...inner, encode: (v) => (v === null ? null : inner.encode(v)) };
    }
    case 'object': {
      const sub = docMapping(spec.fields);
      return {
        path: sub.definition,
        nested: true,
        encode: (v) => sub.encode(v as never),
        decode: (v) => sub.decode(v as Stored),
      };
    }
    case 'list': {
      const sub = docMapping(spec.fields);
      return {
        path: { type: [new Schema(sub.definition, { _id: false, ...SCHEMA_OPTIONS })] },
        nested: false,
        encode: (v) => (v as never[]).map((item) => sub.encode(item)),
        decode: (v) => (v as Stored[]).map((item) => sub.decode(item)),
      };
    }
    default:
      return { ...SCALARS[spec.kind], nested: false };
  }
}

/**
 * Lean reads return BSON Binary for binary fields (a Buffer if the driver
 * was told to promote them). Either way the result is a fresh Uint8Array of
 * exactly the stored bytes, the same type the SQLite adapter returns.
 */
function toBytes(v: unknown): Uint8Array {
  if (v instanceof mongoose.mongo.Binary) return new Uint8Array(v.buffer.subarray(0, v.position));
  if (v instanceof Uint8Array) return new Uint8Array(v);
  throw new TypeError(`binary field is not binary: ${typeof v}`);
}
