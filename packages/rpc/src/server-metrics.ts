import { isAbortError } from 'abort-controller-x';
import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc';
import { Counter, Histogram, type Registry } from 'prom-client';

/** Seconds; streams (uploads, followed logs) run far longer than unary calls. */
const HANDLING_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Counts every call the server handles and how long it took, per method and
 * status: `cloudai_grpc_server_handled_total{service,method,code}` and
 * `cloudai_grpc_server_handling_seconds{service,method}`, a streaming
 * call's whole life included. Labels come only from the methods the server
 * registered: grpc-js answers a call to any other method UNIMPLEMENTED
 * before middleware runs, so callers cannot make new label values.
 */
export function grpcServerMetrics(registry: Registry) {
  const handled = new Counter({
    name: 'cloudai_grpc_server_handled_total',
    help: 'gRPC calls the server finished, by method and status code (OK, NOT_FOUND, …)',
    labelNames: ['service', 'method', 'code'] as const,
    registers: [registry],
  });
  const handling = new Histogram({
    name: 'cloudai_grpc_server_handling_seconds',
    help: 'Time from a gRPC call arriving to its end, streams included, in seconds',
    labelNames: ['service', 'method'] as const,
    buckets: HANDLING_BUCKETS,
    registers: [registry],
  });

  return async function* metrics<Request, Response>(call: ServerMiddlewareCall<Request, Response>, context: CallContext) {
    const labels = serviceAndMethod(call.method.path);
    const stopTimer = handling.startTimer(labels);
    let code: Status | undefined;
    try {
      const result = yield* call.next(call.request, context);
      code = context.signal.aborted ? Status.CANCELLED : Status.OK;
      return result;
    } catch (err) {
      code = err instanceof ServerError ? err.code : isAbortError(err) ? Status.CANCELLED : Status.UNKNOWN;
      throw err;
    } finally {
      // Neither returned nor threw: the client went away and the server stopped pulling the stream.
      handled.inc({ ...labels, code: Status[code ?? Status.CANCELLED] });
      stopTimer();
    }
  };
}

/** "/cloudai.v1.TaskService/GetTask" → service "cloudai.v1.TaskService", method "GetTask". */
function serviceAndMethod(path: string): { service: string; method: string } {
  const slash = path.lastIndexOf('/');
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}
