import { EventIngestor } from '../domain/ingest/event-ingestor';
import { EventValidator } from '../domain/ingest/event-validator';
import { combineIngestObservers } from '../domain/ingest/ingest-session';
import { registerActiveTenantsGauge } from '../observability/collected-gauges';
import { ingestMetricsObserver } from '../observability/ingest-metrics-observer';
import { EventWriter } from '../storage/event-writer';
import { TenantActivity } from '../storage/tenant-activity';
import { createIngestHandlers, INGEST_METHOD_POLICIES, INGEST_SERVICE_NAME, ingestServiceDefinition } from '../transport/grpc/ingest-handlers';
import { createRequestDecoders } from '../transport/grpc/wire/request-decoders';
import type { Feature } from './feature';
import type { Platform } from './platform';

/**
 * telemetry.v1.IngestService: events validated, batched and written through
 * COPY into staging and one merge per batch; metrics and tenant activity
 * observe every batch.
 */
export function createIngestFeature(platform: Platform): Feature {
  const { config, logger, pool, metrics, limiter, pipeline, probes } = platform;
  const activity = new TenantActivity(pool, logger, config.tenantActivity);
  registerActiveTenantsGauge(metrics.registry, async () => (probes.primary.reachable ? activity.activeLast24h() : undefined), logger);
  const ingestor = new EventIngestor({
    sink: new EventWriter(pool, {
      statementTimeoutMs: config.ingest.statementTimeoutMs,
      concurrency: Math.min(config.ingestWrite.concurrency, config.database.pool.max),
      lingerMs: config.ingestWrite.groupLingerMs,
      groupMaxEvents: config.ingestWrite.groupMaxEvents,
      groupMaxBytes: config.ingestWrite.groupMaxBytes,
      queueMaxBytes: config.ingestWrite.queueMaxBytes,
      maxWaitMs: config.database.pool.connectionTimeoutMs,
    }),
    validator: new EventValidator(config.ingest),
    limiter,
    settings: config.ingest,
    streamMaxWaitMs: config.rateLimit.streamMaxWaitMs,
    observer: combineIngestObservers(ingestMetricsObserver(metrics), activity.asIngestObserver()),
  });
  return {
    services: [
      {
        definition: ingestServiceDefinition(createRequestDecoders(config)),
        implementation: createIngestHandlers(pipeline, ingestor, config.ingest),
        policies: INGEST_METHOD_POLICIES,
        health: { name: INGEST_SERVICE_NAME, database: 'primary' },
      },
    ],
  };
}
