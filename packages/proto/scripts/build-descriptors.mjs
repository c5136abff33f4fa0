// Part of the build: compiles the .proto files into one FileDescriptorSet,
// dist/descriptors.binpb, which ships wherever dist/ goes (a deployed image
// included) and is what gRPC reflection serves (src/descriptors.ts). buf
// keeps each file's name, its imports (google/protobuf/timestamp.proto
// among them) and its comments, which clients such as grpcurl need and
// show. cloudai's files come from the repository's proto/; standard/ holds
// those of standard services the servers also answer (grpc.health.v1).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(pkg, 'dist', 'descriptors.binpb');
// buf compiles one folder: both trees are laid out side by side in a scratch one.
const sources = mkdtempSync(join(tmpdir(), 'cloudai-protos-'));
try {
  for (const tree of [join(pkg, '..', '..', 'proto'), join(pkg, 'standard')]) cpSync(tree, sources, { recursive: true });
  mkdirSync(dirname(out), { recursive: true });
  // `buf` is the @bufbuild/buf devDependency, on PATH under `pnpm run`.
  const buf = spawnSync('buf', ['build', sources, '--as-file-descriptor-set', '-o', out], { stdio: 'inherit' });
  if (buf.error) throw new Error(`could not run buf (run this through \`pnpm build\`): ${buf.error.message}`);
  if (buf.status !== 0) process.exit(buf.status ?? 1);
} finally {
  rmSync(sources, { recursive: true, force: true });
}
