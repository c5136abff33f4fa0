import { readFileSync } from 'node:fs';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

// FileDescriptorSet.file (google/protobuf/descriptor.proto).
const FILE_FIELD = 1;

/**
 * The encoded FileDescriptorProto of every .proto file the services were
 * generated from, their imports, and grpc.health.v1, as the build compiled
 * them into dist/descriptors.binpb next to this module: what gRPC reflection
 * describes. A separate entry point (`@cloudai/proto/descriptors`), so that
 * what only servers need is not loaded by every client.
 */
export function fileDescriptors(): Uint8Array[] {
  const path = new URL('./descriptors.binpb', import.meta.url);
  let set: Uint8Array;
  try {
    set = readFileSync(path);
  } catch (err) {
    throw new Error(
      `cannot read ${path.pathname} (${(err as NodeJS.ErrnoException).code ?? 'error'}): the @cloudai/proto build makes it (run \`pnpm build\`)`,
      { cause: err },
    );
  }
  const files: Uint8Array[] = [];
  const reader = new BinaryReader(set);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === FILE_FIELD && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType, field);
  }
  return files;
}
