import { undecodableRequest } from '@cloudai/proto/undecodable';
import type { CallContext, ServerMiddlewareCall, TsProtoServiceDefinition } from 'nice-grpc';
import { invalidArgument } from './errors.js';

/** What a decoder hands on in place of a request it could not read: why. */
class UndecodableRequest {
  constructor(readonly problem: string) {}
}

/**
 * `definition` with request decoders that never throw. grpc-js answers a
 * throwing decoder with INTERNAL "Error deserializing request", which blames
 * the server and names nothing (the generated decoders throw for any 64-bit
 * integer beyond 2^53 - 1, as well as for bytes that are not protobuf). The
 * request is handed on as an UndecodableRequest, which `refuseUndecodable`
 * turns into INVALID_ARGUMENT once the caller is authenticated.
 */
export function decodingTolerantly<D extends TsProtoServiceDefinition>(definition: D): D {
  const methods = Object.fromEntries(
    Object.entries(definition.methods).map(([key, method]) => {
      const path = `/${definition.fullName}/${method.name}`;
      const type = method.requestType;
      const decode = (bytes: Uint8Array): unknown => {
        try {
          return type.decode(bytes);
        } catch (err) {
          return new UndecodableRequest(undecodableRequest(path, bytes, err));
        }
      };
      return [key, { ...method, requestType: { ...type, decode } }];
    }),
  );
  return { ...definition, methods };
}

/** Server middleware: refuses a request (or a streamed request message) that could not be decoded, saying why. */
export async function* refuseUndecodable<Request, Response>(call: ServerMiddlewareCall<Request, Response>, context: CallContext) {
  if (call.method.requestStream) {
    return yield* call.next(decodedOnly(call.request as AsyncIterable<unknown>) as Request, context);
  }
  if (call.request instanceof UndecodableRequest) throw invalidArgument(call.request.problem);
  return yield* call.next(call.request, context);
}

async function* decodedOnly(requests: AsyncIterable<unknown>): AsyncGenerator<unknown> {
  for await (const request of requests) {
    if (request instanceof UndecodableRequest) throw invalidArgument(request.problem);
    yield request;
  }
}
