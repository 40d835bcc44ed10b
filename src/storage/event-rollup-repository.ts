import type pg from 'pg';
import { withPooledClient } from './database-session';
import { microsToSqlTimestamp } from './sql-timestamp';
import { COMPACT_BATCH, EXPIRE_BATCH } from './event-rollups-sql';

/**
 * The advisory lock (transaction level) of every write to event_rollups:
 * one compaction batch or one expiry batch at a time, across instances.
 * 'tvrollup' in ASCII.
 */
export const ROLLUPS_LOCK = '8392020778537481584';

/** Compacts and expires the per-minute rollups (src/storage/event-rollups-sql.ts), in bounded batches of one transaction each. */
export class EventRollupRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Moves deltas into event_rollups, `batchRows` at a time, until a batch
   * finds fewer or `maxBatches` ran. Returns the deltas moved, or undefined
   * when another instance holds the lock (it is compacting: this round is
   * skipped, nobody waits).
   */
  async compact(batchRows: number, maxBatches: number): Promise<number | undefined> {
    let moved = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const result = await this.inLockedTransaction('try', (client) => client.query<{ moved: number }>(COMPACT_BATCH, [batchRows]));
      if (result === undefined) return batch === 0 ? undefined : moved;
      const count = result.rows[0]!.moved;
      moved += count;
      if (count < batchRows) break;
    }
    return moved;
  }

  /**
   * Deletes the tenant's rollups of the minutes wholly before `beforeUs`
   * (its retention cutoff), `batchRows` per table and transaction, until
   * none are left. For the retention job; returns the rows deleted. Readers
   * never count what is past the cutoff anyway (see AggregateSelection's
   * notBeforeUs): this only frees the space.
   */
  async expire(tenantId: string, beforeUs: bigint, batchRows: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const result = await this.inLockedTransaction('wait', (client) => client.query<{ deleted: number }>(EXPIRE_BATCH, [tenantId, microsToSqlTimestamp(beforeUs), batchRows]));
      const count = result!.rows[0]!.deleted;
      deleted += count;
      if (count === 0) return deleted;
    }
  }

  /** Runs `work` in a transaction holding the rollups' lock; undefined when a try-lock found it taken. */
  private inLockedTransaction<T>(lock: 'try' | 'wait', work: (client: pg.PoolClient) => Promise<T>): Promise<T | undefined> {
    return withPooledClient(
      this.pool,
      async (client) => {
        await client.query('BEGIN');
        const take = lock === 'try' ? `pg_try_advisory_xact_lock(${ROLLUPS_LOCK})` : `(SELECT true FROM pg_advisory_xact_lock(${ROLLUPS_LOCK}))`;
        const locked = await client.query<{ locked: boolean }>(`SELECT ${take} AS locked`);
        if (!locked.rows[0]!.locked) {
          await client.query('ROLLBACK');
          return undefined;
        }
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      },
      (client) => client.query('ROLLBACK'),
    );
  }
}
