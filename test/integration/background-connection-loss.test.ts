import pg from 'pg';
import { ensureEventPartitions, PARTITION_LOCK_KEY } from '../../src/storage/event-partitions';
import { EventRollupRepository, ROLLUPS_LOCK } from '../../src/storage/event-rollup-repository';
import { runRetentionRound } from '../../src/storage/retention-work';
import { seedEvents } from '../support/seed-events';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually } from '../support/test-server';

const HOUR_MS = 3_600_000;
const APPLICATION = 'tv-test-lost-round';

/**
 * The data lifecycle's rounds and rollup compaction hold a pooled connection of their own, which
 * pg-pool leaves without an error listener while it is checked out. These
 * tests end that connection's backend while the round waits on a lock (as a
 * database restart or an administrator would): the round must fail, not the
 * process (an 'error' event nobody listens to would crash it), and the pool
 * must not hand the dead connection out again.
 */
describe('a background round whose connection is lost', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeEach(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 1, application_name: APPLICATION });
    pool.on('error', () => undefined);
  });

  afterEach(async () => {
    await pool.end();
    await db.drop();
  });

  /** Ends the round's backend once it waits on a lock, and returns what the round settled with. */
  async function terminateWhileWaiting<T>(round: Promise<T>): Promise<T | Error> {
    const settled = round.then(
      (value) => value,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    const pid = await eventually(async () => {
      const waiting = await db.pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [APPLICATION]);
      expect(waiting.rows).toHaveLength(1);
      return waiting.rows[0]!.pid;
    });
    await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    return settled;
  }

  test('when partitions are being made and the backend is terminated, then the round fails with the connection\'s error, the process goes on, and the next round makes them on a new connection', async () => {
    const holder = await db.pool.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK_KEY.toString()]);
    // Past the next UTC midnight at any hour of the day: events_before reaches it (migration 0004), so a nearer horizon may need nothing.
    const options = { intervalMs: HOUR_MS, horizonMs: Date.now() + 30 * HOUR_MS, lockTimeoutMs: 60_000 };

    const outcome = await terminateWhileWaiting(ensureEventPartitions(pool, options));
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/terminat/);

    await holder.query('ROLLBACK');
    holder.release();
    expect((await ensureEventPartitions(pool, options)).length).toBeGreaterThan(0);
  });

  test('when rollups are being expired and the backend is terminated, then the batch fails, the process goes on, and the next one runs on a new connection', async () => {
    const tenant = await db.pool.query<{ id: string }>("INSERT INTO tenants (name) VALUES ('lost-rollups') RETURNING id");
    const holder = await db.pool.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT pg_advisory_xact_lock(${ROLLUPS_LOCK})`);
    const rollups = new EventRollupRepository(pool);
    const beforeUs = BigInt(Date.now()) * 1000n;

    const outcome = await terminateWhileWaiting(rollups.expire(tenant.rows[0]!.id, beforeUs, 100));
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/terminat/);

    await holder.query('ROLLBACK');
    holder.release();
    expect(await rollups.expire(tenant.rows[0]!.id, beforeUs, 100)).toBe(0);
  });

  test('when retention is deleting and the backend is terminated, then the round fails, the process goes on, and the next round deletes what it had to', async () => {
    const tenant = await db.pool.query<{ id: string }>("INSERT INTO tenants (name) VALUES ('lost-round') RETURNING id");
    const tenantId = tenant.rows[0]!.id;
    const oldUs = BigInt(Date.now() - 30 * 24 * HOUR_MS) * 1000n;
    await seedEvents(db.pool, tenantId, Array.from({ length: 5 }, (_, i) => ({ eventId: `old-${i}`, timestampUs: oldUs + BigInt(i), eventType: 'log', serviceName: 'svc', payload: { i } })));
    // One of the rows the round deletes is locked by another transaction, so that its DELETE waits.
    const holder = await db.pool.connect();
    await holder.query('BEGIN');
    await holder.query("SELECT 1 FROM events WHERE tenant_id = $1 AND event_id = 'old-0' FOR UPDATE", [tenantId]);
    const cutoffs = [{ tenantId, cutoffUs: BigInt(Date.now()) * 1000n - 24n * 3_600_000_000n }];
    const options = { batchRows: 100, pauseMs: 0, budgetMs: 30_000, statementTimeoutMs: 30_000 };

    const outcome = await terminateWhileWaiting(runRetentionRound(pool, cutoffs, undefined, options));
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/terminat/);

    await holder.query('ROLLBACK');
    holder.release();
    expect(await runRetentionRound(pool, cutoffs, undefined, options)).toMatchObject({ deletedRows: 5 });
    const left = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE tenant_id = $1', [tenantId]);
    expect(Number(left.rows[0]!.n)).toBe(0);
  });
});
