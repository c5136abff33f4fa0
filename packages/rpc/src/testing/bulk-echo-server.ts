import { pino } from 'pino';
import { startGrpcServer, type RunningGrpcServer } from '../server.js';
import { EchoDefinition } from './echo-service.js';

/**
 * An echo server whose stream sends `count` messages of about `bytes` each
 * ("<i>:" and the request's text repeated) as fast as its client lets it;
 * `made.count` is how many its stream has produced so far. The caller shuts
 * the server down.
 */
export async function startBulkEchoServer(count: number, bytes: number): Promise<{ server: RunningGrpcServer; made: { count: number } }> {
  const made = { count: 0 };
  const server = await startGrpcServer({
    listenAddr: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    register: (s) =>
      s.add(EchoDefinition, {
        call: (req) => Promise.resolve(req),
        async *stream(req) {
          for (let i = 0; i < count; i++) {
            made.count++;
            yield { text: `${i}:${req.text.repeat(bytes)}` };
          }
        },
      }),
  });
  return { server, made };
}
