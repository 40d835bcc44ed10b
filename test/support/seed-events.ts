import type pg from 'pg';
import { microsToSqlTimestamp } from '../../src/storage/sql-timestamp';

/** An event to put straight into the events table (ingestion is not what these tests test). */
export interface SeedEvent {
  readonly eventId: string;
  /** Microseconds since the epoch. */
  readonly timestampUs: bigint;
  readonly eventType: string;
  readonly serviceName: string;
  readonly payload: Record<string, unknown>;
}

const BATCH = 5000;

/** Inserts the events for the tenant with bulk `INSERT ... SELECT FROM unnest(...)`, bound parameters only. */
export async function seedEvents(db: pg.Pool | pg.PoolClient, tenantId: string, events: readonly SeedEvent[]): Promise<void> {
  for (let start = 0; start < events.length; start += BATCH) {
    const batch = events.slice(start, start + BATCH);
    // The rollups count them too, as the ingest merge would (Aggregate reads them when aligned to whole minutes).
    await db.query(
      `WITH inserted AS (
         INSERT INTO events (tenant_id, event_id, "timestamp", event_type, service_name, payload)
         SELECT $1::uuid, id, ts, type, service, payload
         FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::jsonb[]) AS e(id, ts, type, service, payload)
         RETURNING tenant_id, "timestamp", event_type, service_name
       )
       INSERT INTO event_rollup_deltas (tenant_id, minute, event_type, service_name, events)
       SELECT tenant_id, date_bin('1 minute', "timestamp", TIMESTAMPTZ 'epoch'), event_type, service_name, count(*) FROM inserted GROUP BY 1, 2, 3, 4`,
      [
        tenantId,
        batch.map((event) => event.eventId),
        batch.map((event) => microsToSqlTimestamp(event.timestampUs)),
        batch.map((event) => event.eventType),
        batch.map((event) => event.serviceName),
        batch.map((event) => JSON.stringify(event.payload)),
      ],
    );
  }
}

/** 2024-01-01T00:00:00Z in microseconds. */
export const BASE_US = 1_704_067_200_000_000n;
export const TYPES = ['log', 'metric', 'trace'] as const;
export const SERVICES = ['checkout', 'payments', 'search', 'auth'] as const;

/**
 * `count` varied events: three events share each timestamp (so that the
 * keyset's tie-break on event_id matters), timestamps carry microseconds,
 * types, services and payloads rotate on different periods.
 */
export function makeEvents(count: number, prefix = 'evt', baseUs = BASE_US): SeedEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    // Not in timestamp order, so that event_id order and time order differ.
    eventId: `${prefix}-${String((i * 7919) % 1_000_003).padStart(7, '0')}-${i}`,
    timestampUs: baseUs + BigInt(Math.floor(i / 3)) * 1_000_000n + BigInt((Math.floor(i / 3) * 37) % 1000) * 1000n + 7n,
    eventType: TYPES[i % TYPES.length]!,
    serviceName: SERVICES[Math.floor(i / 2) % SERVICES.length]!,
    payload: { level: i % 5 === 0 ? 'error' : 'info', n: i, tags: i % 2 === 0 ? ['even'] : ['odd'], meta: { region: i % 3 === 0 ? 'eu' : 'us' } },
  }));
}
