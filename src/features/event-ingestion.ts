import type pg from 'pg';
import type { Config } from '../config/load-config';
import { EventIngestor } from '../domain/ingest/event-ingestor';
import { EventValidator } from '../domain/ingest/event-validator';
import { combineIngestObservers } from '../domain/ingest/ingest-session';
import type { RateLimiter } from '../domain/rate-limit/rate-limiter';
import type { RetentionPolicy } from '../domain/retention/retention-policy';
import { registerActiveTenantsGauge } from '../observability/collected-gauges';
import type { Logger } from '../observability/create-logger';
import type { Metrics } from '../observability/create-metrics';
import { ingestMetricsObserver } from '../observability/ingest-metrics-observer';
import type { DatabaseProbe } from '../storage/database-probe';
import { EventWriter } from '../storage/event-writer';
import { TenantActivity } from '../storage/tenant-activity';

/**
 * The one way events get in, shared by every feature that takes events
 * (IngestService, OTLP): the validator and its limits, the rate limiter, and
 * one group-commit writer (COPY into staging, one merge per group, first
 * write wins), so that calls of every feature share groups and the
 * INGEST_WRITE_CONCURRENCY connections. Metrics and tenant activity observe
 * every batch.
 */
export function createEventIngestor(config: Config, logger: Logger, pool: pg.Pool, metrics: Metrics, limiter: RateLimiter, primary: DatabaseProbe, retention: RetentionPolicy): EventIngestor {
  const activity = new TenantActivity(pool, logger, config.tenantActivity);
  registerActiveTenantsGauge(metrics.registry, async () => (primary.reachable ? activity.activeLast24h() : undefined), logger);
  return new EventIngestor({
    sink: new EventWriter(pool, {
      statementTimeoutMs: config.ingest.statementTimeoutMs,
      concurrency: Math.min(config.ingestWrite.concurrency, config.database.pool.max),
      lingerMs: config.ingestWrite.groupLingerMs,
      groupMaxEvents: config.ingestWrite.groupMaxEvents,
      groupMaxBytes: config.ingestWrite.groupMaxBytes,
      queueMaxBytes: config.ingestWrite.queueMaxBytes,
      maxWaitMs: config.database.pool.connectionTimeoutMs,
      stagingPerTransaction: config.database.transactionPooling,
      partitions: {
        intervalMs: config.lifecycle.partitionIntervalMs,
        lockTimeoutMs: config.ingest.statementTimeoutMs,
        onCreated: (names) => {
          metrics.lifecycle.partitionsCreated.inc({ by: 'ingest' }, names.length);
          logger.warn({ component: 'event-writer', partitions: names }, 'events partitions created on demand: a group had none for its events (the data lifecycle rounds are behind)');
        },
      },
    }),
    validator: new EventValidator(config.ingest),
    retention,
    limiter,
    settings: config.ingest,
    streamMaxWaitMs: config.rateLimit.streamMaxWaitMs,
    observer: combineIngestObservers(ingestMetricsObserver(metrics), activity.asIngestObserver()),
  });
}
