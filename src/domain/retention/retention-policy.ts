import type { RetentionOverride } from '../tenants/tenant';

/** The longest retention accepted, RETENTION's and a tenant's alike (36 600 days, about a century). */
export const MAX_RETENTION_MS = 36_600 * 86_400_000;

const MICROS_PER_MILLI = 1000n;

/**
 * Which events a tenant still has: those at or after its cutoff, now minus
 * its retention (the tenant's own, else RETENTION; neither = forever, no
 * cutoff). The one place the cutoff is computed: every read path filters on
 * it (so an event past retention is never returned, even before the
 * retention work deletes it), ingest rejects what is already past it, and
 * the retention work deletes below it.
 */
export class RetentionPolicy {
  constructor(
    /** RETENTION in milliseconds; undefined = forever. */
    readonly defaultRetentionMs: number | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The tenant's retention in milliseconds; undefined = forever. */
  retentionMs(tenant: RetentionOverride): number | undefined {
    return tenant.retentionMs ?? this.defaultRetentionMs;
  }

  /** The earliest instant (microseconds since the epoch) the tenant still keeps; undefined = everything. */
  cutoffUs(tenant: RetentionOverride, nowMs: number = this.now()): bigint | undefined {
    const retentionMs = this.retentionMs(tenant);
    return retentionMs === undefined ? undefined : BigInt(nowMs - retentionMs) * MICROS_PER_MILLI;
  }

  /**
   * The longest retention of all `tenants` (undefined = some keep forever, so
   * no whole partition may go). With no tenant at all, RETENTION's.
   */
  longestMs(tenants: readonly RetentionOverride[]): number | undefined {
    let longest = tenants.length === 0 ? this.defaultRetentionMs : 0;
    for (const tenant of tenants) {
      const retentionMs = this.retentionMs(tenant);
      if (retentionMs === undefined) return undefined;
      longest = Math.max(longest ?? 0, retentionMs);
    }
    return longest;
  }

  /** The reason an ingested event older than the tenant's cutoff is rejected. */
  rejection(tenant: RetentionOverride): string {
    const retentionMs = this.retentionMs(tenant);
    return `timestamp is past this tenant's retention (${retentionMs === undefined ? 'forever' : formatRetention(retentionMs)}): events older than that are not stored`;
  }
}

/** 30d, 12h, 90m, 45s. */
function formatRetention(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
