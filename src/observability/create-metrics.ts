import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The process's metrics, on a registry of its own (never the global one). */
export interface Metrics {
  readonly registry: Registry;
  /** One per finished gRPC call, by method and status code. */
  readonly grpcHandled: Counter<'grpc_service' | 'grpc_method' | 'grpc_code'>;
  /** Call duration in seconds, by method and status code. */
  readonly grpcHandlingSeconds: Histogram<'grpc_service' | 'grpc_method' | 'grpc_code'>;
}

/** Creates the registry with Node's default process metrics and the server's own. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    grpcHandled: new Counter({
      name: 'grpc_server_handled_total',
      help: 'gRPC calls finished, by service, method and status code',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_code'],
      registers: [registry],
    }),
    grpcHandlingSeconds: new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time from the start of a gRPC call to its status, in seconds',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}
