import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { withPooledClient } from './database-session';
import { listEventPartitions, RETENTION_LOCK_KEY } from './event-partitions';
import { microsToSqlTimestamp } from './sql-timestamp';

/** A tenant's retention cutoff as the retention work sees it. */
export interface TenantCutoff {
  readonly tenantId: string;
  /** Microseconds since the epoch; undefined = the tenant keeps everything. */
  readonly cutoffUs: bigint | undefined;
}

export interface RetentionRound {
  /** Partitions whose whole range was past every tenant's retention: detached and dropped. */
  readonly droppedPartitions: string[];
  /** Rows those partitions held (pg_class.reltuples, an estimate: counting would read them all). */
  readonly droppedRows: number;
  /** Rows deleted in batches (tenants whose retention is shorter than the longest, and events_before). */
  readonly deletedRows: number;
  /** Whether the round's delete budget ran out with rows still past retention (the next round goes on). */
  readonly unfinished: boolean;
  /** The oldest event stored, any tenant (milliseconds since the epoch); undefined = none. */
  readonly oldestEventMs: number | undefined;
  /** How far the oldest stored event of the tenant furthest behind is past its retention, in ms (0 = none is). */
  readonly overdueMs: number;
}

export interface RetentionWorkOptions {
  /** RETENTION_DELETE_BATCH: rows per DELETE (one short transaction each). */
  readonly batchRows: number;
  /** RETENTION_DELETE_PAUSE: between two batches. */
  readonly pauseMs: number;
  /** The round stops deleting once this much time has passed (what is left waits for the next round). */
  readonly budgetMs: number;
  /** Each statement's bound. */
  readonly statementTimeoutMs: number;
}

/**
 * One round of retention, under RETENTION_LOCK_KEY (session-level: DETACH
 * CONCURRENTLY cannot run in a transaction). Returns undefined when another
 * instance holds the lock.
 *
 * 1. Partitions whose upper bound is at or before `dropBeforeMs` (now minus
 *    the longest retention of any tenant) are detached CONCURRENTLY (SHARE
 *    UPDATE EXCLUSIVE on events: inserts and reads go on) and dropped.
 *    events_before (from MINVALUE) is never dropped: every past instant keeps
 *    a partition.
 * 2. Each tenant's rows before its own cutoff are deleted in batches of
 *    `batchRows`, each its own statement, with a pause between them, until
 *    none is left or the budget is spent.
 */
export function runRetentionRound(pool: pg.Pool, tenants: readonly TenantCutoff[], dropBeforeMs: number | undefined, options: RetentionWorkOptions): Promise<RetentionRound | undefined> {
  return withPooledClient(pool, (client) => retentionRound(client, tenants, dropBeforeMs, options));
}

async function retentionRound(client: pg.PoolClient, tenants: readonly TenantCutoff[], dropBeforeMs: number | undefined, options: RetentionWorkOptions): Promise<RetentionRound | undefined> {
  let locked = false;
  try {
    const lock = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RETENTION_LOCK_KEY.toString()]);
    locked = lock.rows[0]?.locked === true;
    if (!locked) return undefined;
    await client.query(`SET statement_timeout = ${options.statementTimeoutMs}`);
    const started = Date.now();
    const droppedPartitions: string[] = [];
    let droppedRows = 0;
    for (const partition of await listEventPartitions(client)) {
      if (partition.detachPending) {
        await client.query(`ALTER TABLE events DETACH PARTITION ${partition.name} FINALIZE`);
      } else if (dropBeforeMs === undefined || partition.lowerMs === undefined || partition.upperMs > dropBeforeMs) {
        continue;
      } else {
        await client.query(`ALTER TABLE events DETACH PARTITION ${partition.name} CONCURRENTLY`);
      }
      const rows = await client.query<{ rows: number }>(`SELECT greatest(reltuples, 0)::float8 AS rows FROM pg_class WHERE oid = $1::regclass`, [partition.name]);
      droppedRows += rows.rows[0]?.rows ?? 0;
      await client.query(`DROP TABLE ${partition.name}`);
      droppedPartitions.push(partition.name);
    }

    let deletedRows = 0;
    let unfinished = false;
    for (const tenant of tenants) {
      if (tenant.cutoffUs === undefined) continue;
      const cutoff = microsToSqlTimestamp(tenant.cutoffUs);
      for (;;) {
        if (Date.now() - started >= options.budgetMs) {
          unfinished = true;
          break;
        }
        // The key of the unique index picks the rows: ctid alone is not unique across partitions.
        const deleted = await client.query(
          `DELETE FROM events WHERE tenant_id = $1 AND "timestamp" < $2::timestamptz AND (tenant_id, event_id, "timestamp") IN (
             SELECT tenant_id, event_id, "timestamp" FROM events WHERE tenant_id = $1 AND "timestamp" < $2::timestamptz LIMIT $3)`,
          [tenant.tenantId, cutoff, options.batchRows],
        );
        deletedRows += deleted.rowCount ?? 0;
        if ((deleted.rowCount ?? 0) < options.batchRows) break;
        if (options.pauseMs > 0) await sleep(options.pauseMs);
      }
      if (unfinished) break;
    }

    const { oldestEventMs, overdueMs } = await oldestEvents(client, tenants);
    return { droppedPartitions, droppedRows, deletedRows, unfinished, oldestEventMs, overdueMs };
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK_KEY.toString()]).catch(() => undefined);
  }
}

/** Each tenant's oldest event (one index probe per tenant: the keyset index leads with tenant_id). */
async function oldestEvents(client: pg.PoolClient, tenants: readonly TenantCutoff[]): Promise<{ oldestEventMs: number | undefined; overdueMs: number }> {
  if (tenants.length === 0) return { oldestEventMs: undefined, overdueMs: 0 };
  const result = await client.query<{ tenant_id: string; oldest_ms: number | null }>(
    `SELECT t.id AS tenant_id, (extract(epoch FROM (SELECT min("timestamp") FROM events e WHERE e.tenant_id = t.id)) * 1000)::float8 AS oldest_ms
       FROM unnest($1::uuid[]) AS t(id)`,
    [tenants.map((tenant) => tenant.tenantId)],
  );
  let oldestEventMs: number | undefined;
  let overdueMs = 0;
  const cutoffs = new Map(tenants.map((tenant) => [tenant.tenantId, tenant.cutoffUs]));
  for (const row of result.rows) {
    if (row.oldest_ms === null) continue;
    oldestEventMs = Math.min(oldestEventMs ?? row.oldest_ms, row.oldest_ms);
    const cutoffUs = cutoffs.get(row.tenant_id);
    if (cutoffUs !== undefined) overdueMs = Math.max(overdueMs, Number(cutoffUs / 1000n) - row.oldest_ms);
  }
  return { oldestEventMs, overdueMs };
}
