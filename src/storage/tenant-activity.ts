import type pg from 'pg';
import type { IngestObserver } from '../domain/ingest/ingest-session';
import type { Logger } from '../observability/create-logger';
import { runQuery } from './run-query';

export interface TenantActivityOptions {
  /** A tenant's last_seen_at is written at most this often per instance. */
  readonly touchIntervalMs: number;
  /** The active-tenant count is read from the database at most this often. */
  readonly countCacheMs: number;
  readonly now?: () => number;
}

/**
 * Records when tenants last had events stored (tenants.last_seen_at) and
 * counts the tenants active in the last 24 hours, for the cluster-wide
 * active-tenants metric. Writes are throttled per tenant and never block or
 * fail an ingest call: a failed write is logged and retried with the next batch.
 */
export class TenantActivity {
  private readonly lastTouched = new Map<string, number>();
  private cachedCount: { value: number; at: number } | undefined;
  private readonly now: () => number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly options: TenantActivityOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Notes that the tenant just had events stored. */
  seen(tenantId: string): void {
    const now = this.now();
    const last = this.lastTouched.get(tenantId);
    if (last !== undefined && now - last < this.options.touchIntervalMs) return;
    this.lastTouched.set(tenantId, now);
    runQuery(this.pool, 'UPDATE tenants SET last_seen_at = now() WHERE id = $1', [tenantId]).catch((error: unknown) => {
      this.lastTouched.delete(tenantId);
      this.logger.warn({ err: error, tenantId }, 'recording tenant activity failed');
    });
  }

  /** Tenant activity as an ingest observer: a tenant is seen when a batch stored some of its events. */
  asIngestObserver(): IngestObserver {
    return {
      eventsRejected: () => undefined,
      duplicatesInBatch: () => undefined,
      batchWritten: (tenant, batch) => {
        if (batch.inserted > 0) this.seen(tenant.id);
      },
    };
  }

  /** Tenants with events stored in the last 24 hours, across every instance. */
  async activeLast24h(): Promise<number> {
    const now = this.now();
    if (this.cachedCount && now - this.cachedCount.at < this.options.countCacheMs) return this.cachedCount.value;
    const result = await runQuery<{ active: number }>(this.pool, "SELECT count(*)::int AS active FROM tenants WHERE last_seen_at > now() - interval '24 hours'");
    this.cachedCount = { value: result.rows[0]!.active, at: now };
    return this.cachedCount.value;
  }
}
