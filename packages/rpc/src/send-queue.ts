import grpcServerCall from '@grpc/grpc-js/build/src/server-call.js';
import { limitCallQueue } from './readahead-limit.js';

/**
 * How many messages a server-streaming call queues for a client that reads
 * slower than they are made, before nice-grpc waits for the queue to drain.
 * grpc-js's response stream is a Node object-mode stream with the default
 * of 16 messages. For 20 clients following one log, a heap snapshot of the
 * master showed ~200 of its 256 KiB log entries in those queues: 50 MiB of
 * the 82 MiB it held. Each call also has one message in HTTP/2's hands;
 * more queued behind it only holds memory. It applies to every
 * server-streaming call served afterwards in this process (and to unary
 * ones, which grpc-js builds from the same class but answers without its
 * queue); a later call replaces an earlier one's limit.
 */
export function limitServerStreamSendQueue(messages: number): void {
  limitCallQueue(grpcServerCall, 'ServerWritableStreamImpl', 'writable', messages);
}
