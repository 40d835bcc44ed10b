import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The process's metrics, on a registry of its own (never the global one). */
export interface Metrics {
  readonly registry: Registry;
  /** One per finished gRPC call, by method and status code. */
  readonly grpcHandled: Counter<'grpc_service' | 'grpc_method' | 'grpc_code'>;
  /** Call duration in seconds, by method and status code. */
  readonly grpcHandlingSeconds: Histogram<'grpc_service' | 'grpc_method' | 'grpc_code'>;
  /** Ingested events by outcome: accepted (newly stored), duplicate, rejected (failed validation). */
  readonly ingestEvents: Counter<'outcome'>;
  /** Time to write one batch (COPY + merge + commit), in seconds. */
  readonly ingestBatchSeconds: Histogram;
  /** Takes refused by a rate limit, by bucket (calls, events). */
  readonly rateLimitThrottled: Counter<'bucket'>;
  /** Takes served from process memory because the shared (Redis) store failed or was disconnected. */
  readonly rateLimitLocalTakes: Counter;
  /** 1 while rate limits are enforced per instance because Redis is unavailable, else 0. */
  readonly rateLimitDegraded: Gauge;
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
    ingestEvents: new Counter({
      name: 'telemetry_vault_ingest_events_total',
      help: 'Ingested events by outcome: accepted (newly stored), duplicate (already stored), rejected (failed validation)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    ingestBatchSeconds: new Histogram({
      name: 'telemetry_vault_ingest_batch_seconds',
      help: 'Time to write one batch of events (COPY into staging, merge, commit), in seconds',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    rateLimitThrottled: new Counter({
      name: 'telemetry_vault_rate_limit_throttled_total',
      help: 'Rate-limit takes refused, by bucket (a throttled stream message may be counted once per wait)',
      labelNames: ['bucket'],
      registers: [registry],
    }),
    rateLimitLocalTakes: new Counter({
      name: 'telemetry_vault_rate_limit_local_takes_total',
      help: 'Rate-limit takes served from process memory because the shared Redis store failed or was disconnected',
      registers: [registry],
    }),
    rateLimitDegraded: new Gauge({
      name: 'telemetry_vault_rate_limit_degraded',
      help: '1 while REDIS_URL is set but Redis is unavailable, so that limits are enforced per instance; else 0',
      registers: [registry],
    }),
  };
}
