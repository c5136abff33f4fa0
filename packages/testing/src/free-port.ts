import { createServer } from 'node:net';

/**
 * A port on 127.0.0.1 that was free a moment ago: for a server that must
 * keep one address across restarts, where port 0 would pick a new one.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as { port: number };
  await new Promise((res) => server.close(res));
  return port;
}
