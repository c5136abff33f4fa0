// Why a request could not be decoded, in words a caller can act on. The
// generated decoders read 64-bit integers as JavaScript numbers and throw on
// any beyond 2^53 - 1 without saying which field held it; grpc-js then
// answers INTERNAL. This reads the same bytes again with the contract's
// descriptors, which keep 64-bit integers exact, to name the field. It runs
// only for requests that already failed to decode.
import { createFileRegistry, fromBinary, type DescField, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { isReflectMessage, reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { descriptorSet } from './descriptors.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

let registry: FileRegistry | undefined;

/** The request type of a gRPC method path such as "/cloudai.v1.TaskService/GetTask". */
function requestTypeOf(methodPath: string): DescMessage | undefined {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSet()));
  const [, service, method] = methodPath.split('/');
  return registry.getService(service ?? '')?.methods.find((m) => m.name === method)?.input;
}

/**
 * One line saying what is wrong with `bytes` as the request of `methodPath`,
 * naming the field when a 64-bit integer is beyond what a number holds.
 */
export function undecodableRequest(methodPath: string, bytes: Uint8Array, err: unknown): string {
  const type = requestTypeOf(methodPath);
  const name = type?.typeName ?? 'request';
  if (type) {
    try {
      const hit = unsafeInteger(reflect(type, fromBinary(type, bytes)), '');
      if (hit) return `${hit.path} is ${hit.value}, beyond ±(2^53 - 1): such integers are not accepted`;
    } catch (reread) {
      return `the request is not a valid ${name}: ${(reread as Error).message}`;
    }
  }
  return `the request is not a valid ${name}: ${(err as Error).message}`;
}

/** The first 64-bit integer beyond a number's exact range, depth first, and where it is. */
function unsafeInteger(message: ReflectMessage, path: string): { path: string; value: bigint } | undefined {
  for (const field of message.fields) {
    if (!message.isSet(field)) continue;
    for (const [where, value] of valuesOf(message, field, path ? `${path}.${field.name}` : field.name)) {
      if (isReflectMessage(value)) {
        const hit = unsafeInteger(value, where);
        if (hit) return hit;
      } else if (typeof value === 'bigint' && (value > MAX_SAFE || value < -MAX_SAFE)) {
        return { path: where, value };
      }
    }
  }
  return undefined;
}

/** A field's values with where each is: the value of a singular field, each item of a list or map. */
function* valuesOf(message: ReflectMessage, field: DescField, at: string): Generator<[string, unknown]> {
  if (field.fieldKind === 'list') {
    let i = 0;
    for (const item of message.get(field)) yield [`${at}[${i++}]`, item];
  } else if (field.fieldKind === 'map') {
    for (const [key, item] of message.get(field)) yield [`${at}[${JSON.stringify(String(key))}]`, item];
  } else {
    yield [at, message.get(field)];
  }
}
