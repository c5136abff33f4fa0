import grpcServerCall from '@grpc/grpc-js/build/src/server-call.js';
import { limitCallQueue } from './readahead-limit.js';

/**
 * How many received messages a client-streaming call holds on the server
 * before it stops reading from HTTP/2. grpc-js's call is a Node object-mode
 * stream with the default of 16 messages: 16 MiB of an upload that arrives
 * faster than it is stored (an object store slower than the sender), on
 * top of the 8 MiB HTTP/2 window that keeps the sender busy anyway. A
 * server that receives large chunks keeps a couple instead. It applies to
 * every client-streaming (and bidirectional) call served afterwards, and
 * costs nothing to a call that fails: its unread messages are dropped with
 * it either way.
 */
export function limitClientStreamReadahead(messages: number): void {
  limitCallQueue(grpcServerCall, 'ServerDuplexStreamImpl', 'readable', messages);
}
