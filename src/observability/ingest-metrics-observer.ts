import type { IngestObserver } from '../domain/ingest/ingest-session';
import type { Tenant } from '../domain/tenants/tenant';
import type { Metrics } from './create-metrics';

/**
 * Turns what ingest sessions report into metrics: events by result (with a
 * bounded tenant label when METRICS_TENANT_LABEL is on), stored events by
 * type and by service (bounded), batch sizes and write durations.
 */
export function ingestMetricsObserver(metrics: Metrics): IngestObserver {
  const labels = (tenant: Tenant, result: 'accepted' | 'duplicate' | 'rejected') =>
    metrics.tenantLabel ? { result, tenant: metrics.tenantLabel.value(tenant.name) } : { result };
  return {
    eventsRejected: (tenant, count) => metrics.ingestEvents.inc(labels(tenant, 'rejected'), count),
    duplicatesInBatch: (tenant, count) => metrics.ingestEvents.inc(labels(tenant, 'duplicate'), count),
    batchWritten: (tenant, batch) => {
      metrics.ingestEvents.inc(labels(tenant, 'accepted'), batch.inserted);
      metrics.ingestEvents.inc(labels(tenant, 'duplicate'), batch.events - batch.inserted);
      metrics.ingestBatchEvents.observe(batch.events);
      metrics.dbQuerySeconds.observe({ operation: 'ingest_flush' }, batch.seconds);
      for (const group of batch.stored) {
        metrics.ingestEventsByType.inc({ event_type: metrics.eventTypeLabel.value(group.eventType) }, group.count);
        metrics.ingestEventsByService.inc({ service_name: metrics.serviceNameLabel.value(group.serviceName) }, group.count);
      }
    },
  };
}
