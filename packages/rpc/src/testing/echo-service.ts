import type { MethodDefinition } from 'nice-grpc';

export interface EchoMessage {
  text: string;
}

function method<Streaming extends boolean>(
  name: string,
  responseStream: Streaming,
): MethodDefinition<EchoMessage, EchoMessage, EchoMessage, EchoMessage, false, Streaming> {
  const serialize = (value: EchoMessage) => Buffer.from(JSON.stringify(value));
  const deserialize = (bytes: Uint8Array) => JSON.parse(Buffer.from(bytes).toString()) as EchoMessage;
  return {
    path: `/cloudai.test.Echo/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
    options: {},
  };
}

/**
 * A service of the tests' own, so the plumbing is exercised without any app's
 * contract: JSON messages, one unary and one server-streaming method.
 */
export const EchoDefinition = {
  call: method('Call', false),
  stream: method('Stream', true),
};
