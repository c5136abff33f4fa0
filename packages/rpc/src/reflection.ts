import { Duplex, PassThrough } from 'node:stream';
import { fileDescriptors } from '@cloudai/proto/descriptors';
import type { handleBidiStreamingCall, ServiceDefinition as GrpcJsServiceDefinition } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { CompatServiceDefinition, Server } from 'nice-grpc';

/** Every server answers health (server.ts adds it before the app's services). */
const HEALTH_SERVICE = 'grpc.health.v1.Health';

type DescribedPackage = ConstructorParameters<typeof ReflectionService>[0];

let described: DescribedPackage | undefined;

/**
 * What ReflectionService describes, in the shape of a proto-loader package
 * definition, of which it reads only the files' descriptors. They come from
 * buf, not from proto-loader: proto-loader merges the files of one package
 * and drops their imports, so clients could not resolve
 * google.protobuf.Timestamp (grpc/grpc-node#2958). Read once per process.
 */
function describedPackage(): DescribedPackage {
  described ??= {
    'cloudai.files': { format: 'Protocol Buffer 3 FileDescriptorProto', type: {}, fileDescriptorProtos: fileDescriptors() },
  } as unknown as DescribedPackage;
  return described;
}

/** "cloudai.v1.TaskService", from a ts-proto definition's fullName or a grpc-js one's method paths. */
function serviceNameOf(definition: CompatServiceDefinition): string {
  if ('fullName' in definition && typeof definition.fullName === 'string') return definition.fullName;
  const path = (Object.values(definition)[0] as { path?: unknown } | undefined)?.path;
  if (typeof path !== 'string') throw new Error('a service definition without fullName or method paths');
  return path.slice(1, path.lastIndexOf('/'));
}

/**
 * Runs `register` on `server`, then adds gRPC server reflection
 * (grpc.reflection.v1 and v1alpha, from @grpc/reflection) describing health
 * and exactly the services `register` added with `server.add`: a client
 * sees what this server answers, not every service of cloudai.
 */
export function registerWithReflection<Ext>(server: Server<Ext>, register: (server: Server<Ext>) => void): void {
  const served = [HEALTH_SERVICE];
  register({
    ...server,
    add(definition, implementation) {
      served.push(serviceNameOf(definition));
      server.add(definition, implementation);
    },
  });
  // @grpc/reflection adds itself to a grpc-js server; its services are
  // handed over here and served through nice-grpc, behind the same
  // middleware (authentication included) as every other call.
  new ReflectionService(describedPackage(), { services: served }).addToServer({
    addService(definition: GrpcJsServiceDefinition, handlers: Record<string, unknown>) {
      const handle = handlers.ServerReflectionInfo as handleBidiStreamingCall<unknown, unknown>;
      (server as unknown as Server).add(definition, { ServerReflectionInfo: bidiOf(handle) } as never);
    },
  });
}

/**
 * A nice-grpc bidi-streaming method running a grpc-js one: the handler gets
 * a duplex that yields the call's requests and takes its answers.
 */
function bidiOf(handle: handleBidiStreamingCall<unknown, unknown>) {
  return async function* (requests: AsyncIterable<unknown>): AsyncIterable<unknown> {
    const answers = new PassThrough({ objectMode: true });
    const call = new Duplex({
      objectMode: true,
      read() {},
      write(answer, _encoding, done) {
        answers.write(answer, done);
      },
      final(done) {
        answers.end();
        done();
      },
    });
    handle(call as never);
    void (async () => {
      try {
        for await (const request of requests) call.push(request);
        call.push(null);
      } catch (err) {
        answers.destroy(err as Error);
      }
    })();
    try {
      yield* answers;
    } finally {
      call.destroy();
    }
  };
}
