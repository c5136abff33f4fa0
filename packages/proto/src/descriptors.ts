import { readFileSync } from 'node:fs';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

// FileDescriptorSet.file (google/protobuf/descriptor.proto).
const FILE_FIELD = 1;

/**
 * The FileDescriptorSet of every .proto file the services were generated
 * from, their imports, and grpc.health.v1, as the build compiled it into
 * dist/descriptors.binpb next to this module, with names, imports and
 * comments kept. Only servers read it (reflection, and naming the field of a
 * request that did not decode), hence its own entry points, which clients
 * such as the CLI never load.
 */
export function descriptorSet(): Uint8Array {
  const path = new URL('./descriptors.binpb', import.meta.url);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(
      `cannot read ${path.pathname} (${(err as NodeJS.ErrnoException).code ?? 'error'}): the @cloudai/proto build makes it (run \`pnpm build\`)`,
      { cause: err },
    );
  }
}

/** The encoded FileDescriptorProto of each file of descriptorSet(): what gRPC reflection describes. */
export function fileDescriptors(): Uint8Array[] {
  const files: Uint8Array[] = [];
  const reader = new BinaryReader(descriptorSet());
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === FILE_FIELD && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType, field);
  }
  return files;
}
