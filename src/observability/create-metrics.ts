import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Label value for everything past a bounded label's capacity. */
export const OTHER_LABEL = '__other__';

/**
 * Keeps a label's cardinality bounded: the first `capacity` distinct values
 * are kept as they are, every later one is reported as `__other__`.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly capacity: number) {}

  value(raw: string): string {
    if (this.seen.has(raw)) return raw;
    if (this.seen.size >= this.capacity) return OTHER_LABEL;
    this.seen.add(raw);
    return raw;
  }
}

export interface MetricsOptions {
  /** METRICS_MAX_LABEL_VALUES: distinct event types (and service names, and tenants) reported before `__other__`. */
  readonly maxLabelValues: number;
  /** METRICS_TENANT_LABEL: add a (bounded) tenant label to the per-event counters. */
  readonly tenantLabel: boolean;
}

type CallLabels = 'grpc_service' | 'grpc_method' | 'grpc_code';

/**
 * The process's metrics, on a registry of its own (never the global one).
 * Gauges read from elsewhere at scrape time (pools, probes, the database)
 * are registered by the modules that own what they read (see
 * observability/collected-gauges.ts).
 * Names follow Prometheus conventions: `_total` counters, `_seconds`
 * histograms (quantiles are computed by PromQL, not here), bounded labels.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly eventTypeLabel: BoundedLabel;
  readonly serviceNameLabel: BoundedLabel;
  readonly tenantLabel: BoundedLabel | undefined;
  /** One per finished gRPC call of any service: requests and errors by code. */
  readonly grpcHandled: Counter<CallLabels>;
  /** Call duration: ingest and query latency by method and code. */
  readonly grpcHandlingSeconds: Histogram<CallLabels>;
  /** Ingested events by result: accepted, duplicate, rejected (rate() = throughput). */
  readonly ingestEvents: Counter<'result' | 'tenant'>;
  /** Stored events by event type (bounded). */
  readonly ingestEventsByType: Counter<'event_type'>;
  /** OTLP records (log records, spans, data points) by signal, transport and outcome (stored, duplicate, rejected). */
  readonly otlpRecords: Counter<'signal' | 'transport' | 'outcome'>;
  /** Stored events by service name (bounded). */
  readonly ingestEventsByService: Counter<'service_name'>;
  /** Events per flushed batch. */
  readonly ingestBatchEvents: Histogram;
  /** Calls refused by a rate limit, by bucket and service. */
  readonly rateLimitRejections: Counter<'bucket' | 'grpc_service'>;
  /**
   * Failed authentications by outcome: `unauthenticated` (a missing or bad API
   * key), `throttled` (refused before the key was checked: the client's
   * address failed too often).
   */
  readonly authFailures: Counter<'outcome'>;
  /** Time of each database operation, by operation. */
  readonly dbQuerySeconds: Histogram<'operation'>;
  /** Rate-limit takes served from process memory because the shared (Redis) store failed. */
  readonly rateLimitLocalTakes: Counter;
  /** 1 while REDIS_URL is set but Redis is unavailable (limits enforced per instance). */
  readonly rateLimitDegraded: Gauge;
  /** The data lifecycle (partitions and retention; src/features/lifecycle-feature.ts sets them). */
  readonly lifecycle: LifecycleMetrics;
  /** Promise rejections no code handled: each one a bug, logged as an error while the server goes on (serve-command.ts). */
  readonly unhandledRejections: Counter;
}

/** Partitions and retention. The retention gauges come from the instance that last ran the retention work (max() across instances). */
export interface LifecycleMetrics {
  /** Partitions of the events table. */
  readonly eventPartitions: Gauge;
  /** Partitions of events created, by whom: lifecycle (the rounds, ahead of need) or ingest (on demand, for a group that lacked one). */
  readonly partitionsCreated: Counter<'by'>;
  /** Events removed for retention, by how: dropped (whole partitions; their row estimate) or deleted (batched deletes). */
  readonly expiredRows: Counter<'how'>;
  /** The oldest stored event, in milliseconds since the epoch (the age gauge is computed from it at scrape time); undefined = none. */
  oldestEventMs: number | undefined;
  /** How far the oldest event of the tenant furthest behind is past its retention, in seconds (0 = retention is kept). */
  readonly overdueSeconds: Gauge;
  /** When the last retention round of this instance finished (unix seconds). */
  readonly lastRunSeconds: Gauge;
}

function createLifecycleMetrics(registers: Registry[]): LifecycleMetrics {
  const metrics: LifecycleMetrics = {
    eventPartitions: new Gauge({ name: 'telemetry_vault_event_partitions', help: 'Partitions of the events table (one per EVENTS_PARTITION_INTERVAL, plus events_before)', registers }),
    partitionsCreated: withZeroes(
      new Counter({
        name: 'telemetry_vault_event_partitions_created_total',
        help: 'Partitions of the events table created, by whom: lifecycle (ahead of need) or ingest (on demand, for a group that lacked one: the lifecycle rounds fell behind)',
        labelNames: ['by'],
        registers,
      }),
      [{ by: 'lifecycle' }, { by: 'ingest' }],
    ),
    expiredRows: withZeroes(
      new Counter({
        name: 'telemetry_vault_retention_expired_rows_total',
        help: 'Events removed because they were past their tenant retention, by how: dropped (whole partitions, row estimate) or deleted (batched deletes)',
        labelNames: ['how'],
        registers,
      }),
      [{ how: 'dropped' }, { how: 'deleted' }],
    ),
    oldestEventMs: undefined,
    overdueSeconds: new Gauge({
      name: 'telemetry_vault_retention_overdue_seconds',
      help: 'How far the oldest stored event of the tenant furthest behind is past its retention, in seconds, as of the last retention round (0 = none is)',
      registers,
    }),
    lastRunSeconds: new Gauge({ name: 'telemetry_vault_retention_last_run_timestamp_seconds', help: 'When this instance last finished a retention round (unix time, seconds)', registers }),
  };
  new Gauge({
    name: 'telemetry_vault_oldest_event_age_seconds',
    help: 'Age of the oldest stored event (any tenant), in seconds, as of the last retention round of this instance',
    registers,
    collect() {
      if (metrics.oldestEventMs === undefined) this.reset();
      else this.set(Math.max(0, (Date.now() - metrics.oldestEventMs) / 1000));
    },
  });
  return metrics;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Creates the registry with Node's default process metrics and the server's own. */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    eventTypeLabel: new BoundedLabel(options.maxLabelValues),
    serviceNameLabel: new BoundedLabel(options.maxLabelValues),
    tenantLabel: options.tenantLabel ? new BoundedLabel(options.maxLabelValues) : undefined,
    grpcHandled: new Counter({
      name: 'grpc_server_handled_total',
      help: 'gRPC calls finished, by service, method and status code',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_code'],
      registers,
    }),
    grpcHandlingSeconds: new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time from the start of a gRPC call to its status, in seconds',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_code'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    ingestEvents: new Counter({
      name: 'telemetry_vault_ingest_events_total',
      help: 'Events received by IngestService, by result: accepted (newly stored), duplicate, rejected',
      labelNames: options.tenantLabel ? ['result', 'tenant'] : ['result'],
      registers,
    }),
    otlpRecords: new Counter({
      name: 'telemetry_vault_otlp_records_total',
      help: 'OTLP records received (log records, spans, data points), by signal, transport and what became of them (stored, duplicate, rejected)',
      labelNames: ['signal', 'transport', 'outcome'],
      registers,
    }),
    ingestEventsByType: new Counter({
      name: 'telemetry_vault_ingest_events_by_type_total',
      help: `Events newly stored, by event type (the first METRICS_MAX_LABEL_VALUES types; later ones count as ${OTHER_LABEL})`,
      labelNames: ['event_type'],
      registers,
    }),
    ingestEventsByService: new Counter({
      name: 'telemetry_vault_ingest_events_by_service_total',
      help: `Events newly stored, by service name (the first METRICS_MAX_LABEL_VALUES services; later ones count as ${OTHER_LABEL})`,
      labelNames: ['service_name'],
      registers,
    }),
    unhandledRejections: new Counter({
      name: 'telemetry_vault_unhandled_rejections_total',
      help: 'Promise rejections that no code handled: each is a bug, logged as an error ("a promise failed and nothing handled it"); the server goes on serving',
      registers,
    }),
    ingestBatchEvents: new Histogram({
      name: 'telemetry_vault_ingest_batch_events',
      help: 'Events per batch written to PostgreSQL (COPY + merge)',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
      registers,
    }),
    rateLimitRejections: new Counter({
      name: 'telemetry_vault_rate_limit_rejections_total',
      help: 'Calls refused with RESOURCE_EXHAUSTED by a rate limit, by bucket (calls, events) and service',
      labelNames: ['bucket', 'grpc_service'],
      registers,
    }),
    authFailures: withZeroes(
      new Counter({
        name: 'telemetry_vault_auth_failures_total',
        help: 'Failed authentications, by outcome: unauthenticated (UNAUTHENTICATED: missing, unknown, revoked or expired API key), throttled (RESOURCE_EXHAUSTED before the key was checked: the address failed too often)',
        labelNames: ['outcome'],
        registers,
      }),
      [{ outcome: 'unauthenticated' }, { outcome: 'throttled' }],
    ),
    dbQuerySeconds: new Histogram({
      name: 'telemetry_vault_db_query_seconds',
      help: 'Duration of database operations, by operation',
      labelNames: ['operation'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    rateLimitLocalTakes: new Counter({
      name: 'telemetry_vault_rate_limit_local_takes_total',
      help: 'Rate-limit takes served from process memory because the shared Redis store failed or was disconnected',
      registers,
    }),
    rateLimitDegraded: new Gauge({
      name: 'telemetry_vault_rate_limit_degraded',
      help: '1 while REDIS_URL is set but Redis is unavailable, so that limits are enforced per instance; else 0',
      registers,
    }),
    lifecycle: createLifecycleMetrics(registers),
  };
}

/** Starts the counter's series for `labelSets` at 0, so that rate() sees the first increment. */
function withZeroes<T extends string>(counter: Counter<T>, labelSets: Partial<Record<T, string>>[]): Counter<T> {
  for (const labels of labelSets) counter.inc(labels, 0);
  return counter;
}
