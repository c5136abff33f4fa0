import grpcCall from '@grpc/grpc-js/build/src/call.js';
import { limitCallQueue } from './readahead-limit.js';

/**
 * How many received messages a server-streaming call holds on the client
 * before it stops reading from HTTP/2: the client-side twin of
 * limitClientStreamReadahead. grpc-js's response stream is a Node
 * object-mode stream with the default of 16 messages, so a download whose
 * disk is slower than the network keeps 16 MiB of chunks in memory (the
 * largest share of `cloudai download`'s RSS in a heap snapshot), on top of
 * the HTTP/2 window that keeps the sender busy anyway. It applies to every
 * server-streaming call started afterwards in this process; a later call
 * replaces an earlier one's limit.
 *
 * A call that fails loses what it had not read yet, as before: grpc-js
 * reports a failed status as soon as it arrives. With fewer messages read
 * ahead, that is more of what was in flight.
 */
export function limitResponseStreamReadahead(messages: number): void {
  limitCallQueue(grpcCall, 'ClientReadableStreamImpl', 'readable', messages);
}
