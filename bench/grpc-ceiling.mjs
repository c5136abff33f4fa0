#!/usr/bin/env node
// The transport's ceiling for bench/transfer.mjs: a bare nice-grpc
// client stream of `mib` messages of 1 MiB between two Node processes on
// loopback, with none of cloudai's middleware, packing, hashing or disk.
//   node bench/grpc-ceiling.mjs serve            prints the port, counts what arrives
//   node bench/grpc-ceiling.mjs send <port> <mib> [window]
//                                                 prints {"seconds":…} when the server answers
// `window` (bytes) widens the HTTP/2 receive windows of both ends, as
// packages/rpc does for the apps; without it both keep Node's 64 KiB.
import http2 from 'node:http2';
import { StorageServiceDefinition } from '@cloudai/proto';
import { createChannel, createClient, createServer } from 'nice-grpc';

const [mode, ...args] = process.argv.slice(2);
const MAX = 8 * 1024 * 1024;

if (mode === 'serve') {
  const window = Number(args[0] ?? 0);
  if (window > 0) widenServers(window);
  const unused = async () => {
    throw new Error('not part of the ceiling');
  };
  const server = createServer({ 'grpc.max_receive_message_length': MAX, 'grpc.max_send_message_length': MAX });
  server.add(StorageServiceDefinition, {
    async uploadOutputs(requests) {
      let bytes = 0;
      for await (const r of requests) bytes += r.data?.length ?? 0;
      return { files: [], totalBytes: bytes };
    },
    listFiles: unused,
    downloadFiles: unused,
    deleteFiles: unused,
  });
  const port = await server.listen('127.0.0.1:0');
  process.stdout.write(`${port}\n`);
  process.on('SIGTERM', () => server.forceShutdown());
} else if (mode === 'send') {
  const [port, mib, window] = args.map(Number);
  const channel = createChannel(`127.0.0.1:${port}`, undefined, {
    'grpc.max_receive_message_length': MAX,
    'grpc.max_send_message_length': MAX,
    ...(window > 0 ? { 'grpc-node.flow_control_window': window } : {}),
  });
  const client = createClient(StorageServiceDefinition, channel);
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  async function* messages() {
    yield { header: { grant: 'ceiling' } };
    for (let i = 0; i < mib; i++) yield { data: chunk };
  }
  // One warm-up call so that connecting is not timed.
  await client.uploadOutputs((async function* () {
    yield { header: { grant: 'warm-up' } };
  })());
  const t = performance.now();
  const { totalBytes } = await client.uploadOutputs(messages());
  const seconds = (performance.now() - t) / 1000;
  if (totalBytes !== mib * 1024 * 1024) throw new Error(`the server counted ${totalBytes} bytes of ${mib} MiB`);
  process.stdout.write(`${JSON.stringify({ seconds })}\n`);
  channel.close();
} else {
  console.error('usage: grpc-ceiling.mjs serve [window] | send <port> <mib> [window]');
  process.exit(2);
}

/** The same widening as packages/rpc/src/flow-control.ts, for grpc-js's own HTTP/2 server. */
function widenServers(window) {
  const original = http2.createServer;
  http2.createServer = (options, ...rest) => {
    const server = original({ ...options, settings: { ...options?.settings, initialWindowSize: window } }, ...rest);
    server.on('session', (session) => {
      const widen = () => session.setLocalWindowSize(window);
      if (session.connecting) session.once('connect', widen);
      else widen();
    });
    return server;
  };
}
