import { status } from '@grpc/grpc-js';
import pg from 'pg';
import { listEventPartitions, PARTITION_LOCK_KEY } from '../../src/storage/event-partitions';
import { createTenantWithKey, errorDetails, ingestUnary, makeEvent } from '../support/ingest-calls';
import { scrapeMetrics } from '../support/prometheus-text';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, withKey, type TestServer } from '../support/test-server';

const HOUR_MS = 3_600_000;

function timestampOf(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** What the lifecycle rounds would have made, taken away: every partition that starts after `afterMs` is detached and dropped. */
async function dropPartitionsAfter(pool: pg.Pool, afterMs: number): Promise<string[]> {
  const dropped: string[] = [];
  for (const partition of await listEventPartitions(pool)) {
    if (partition.lowerMs === undefined || partition.lowerMs <= afterMs) continue;
    await pool.query(`ALTER TABLE events DETACH PARTITION ${partition.name}`);
    await pool.query(`DROP TABLE ${partition.name}`);
    dropped.push(partition.name);
  }
  return dropped;
}

function covers(partitions: Awaited<ReturnType<typeof listEventPartitions>>, ms: number): boolean {
  return partitions.some((partition) => (partition.lowerMs === undefined || partition.lowerMs <= ms) && ms < partition.upperMs);
}

// Issue 16: "the vault creates partitions ahead of need and never fails an ingest for lack of one", even when the
// lifecycle rounds fell behind (here: their partitions dropped behind their back, the next round an hour away).
describe('partitions created on demand by the writer', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { EVENTS_PARTITION_INTERVAL: '1h', DATA_LIFECYCLE_INTERVAL: '1h', INGEST_MAX_FUTURE_SKEW: '2d', INGEST_STATEMENT_TIMEOUT: '1s', AUTH_CACHE_TTL: '0' });
  });

  afterAll(async () => {
    await server?.stop();
    await db.drop();
  });

  test('when 16 concurrent calls carry events past the last partition, then every call succeeds, each missing range is created once and contiguous, and the metric counts them', async () => {
    const now = Date.now();
    expect((await dropPartitionsAfter(db.pool, now)).length).toBeGreaterThan(0);
    const top = (await listEventPartitions(db.pool)).at(-1)!.upperMs;
    const { key, tenantId } = await createTenantWithKey(db.pool, 'ahead');
    const times = Array.from({ length: 16 }, (_, i) => Math.max(top, now) + (i + 1) * HOUR_MS + 60_000);
    expect(times.at(-1)!).toBeLessThan(now + 47 * HOUR_MS);
    const results = await Promise.all(times.map((ms, i) => ingestUnary(server.ingest, withKey(key), { events: [makeEvent({ eventId: `e${i}`, timestamp: timestampOf(ms) }), makeEvent({ eventId: `now${i}` })] })));
    expect(results.map((result) => result.error?.message)).toEqual(times.map(() => undefined));
    expect(results.map((result) => result.response!.accepted)).toEqual(times.map(() => 2));

    const partitions = await listEventPartitions(db.pool);
    for (let i = 1; i < partitions.length; i++) expect(partitions[i]!.lowerMs).toBe(partitions[i - 1]!.upperMs);
    expect(new Set(partitions.map((partition) => partition.name)).size).toBe(partitions.length);
    for (const ms of times) expect(covers(partitions, ms)).toBe(true);
    const stored = await db.pool.query('SELECT count(*)::int AS n FROM events WHERE tenant_id = $1', [tenantId]);
    expect(stored.rows[0].n).toBe(32);
    const metrics = await scrapeMetrics(server.httpUrl);
    expect(metrics.value('telemetry_vault_event_partitions_created_total', { by: 'ingest' })).toBe(partitions.filter((partition) => partition.lowerMs !== undefined && partition.lowerMs >= top).length);
  });

  test('when an event falls in a gap between partitions, then its partition is created there and the call succeeds', async () => {
    const partitions = await listEventPartitions(db.pool);
    const victim = partitions.at(-3)!;
    await db.pool.query(`ALTER TABLE events DETACH PARTITION ${victim.name}`);
    await db.pool.query(`DROP TABLE ${victim.name}`);
    const { key } = await createTenantWithKey(db.pool, 'gap');
    const result = await ingestUnary(server.ingest, withKey(key), { events: [makeEvent({ timestamp: timestampOf(victim.lowerMs! + 30 * 60_000) })] });
    expect(result.response).toMatchObject({ accepted: 1 });
    const after = await listEventPartitions(db.pool);
    expect(after.map((partition) => [partition.name, partition.lowerMs, partition.upperMs])).toEqual(partitions.map((partition) => [partition.name, partition.lowerMs, partition.upperMs]));
  });

  test('when creating the partition fails (another instance holds the partition lock past the lock timeout), then the call gets UNAVAILABLE with RetryInfo, and succeeds once the lock is gone', async () => {
    const top = (await listEventPartitions(db.pool)).at(-1)!.upperMs;
    expect(top).toBeLessThan(Date.now() + 46 * HOUR_MS);
    const { key } = await createTenantWithKey(db.pool, 'locked-out');
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [PARTITION_LOCK_KEY.toString()]);
      const event = makeEvent({ timestamp: timestampOf(top + HOUR_MS) });
      const refused = await ingestUnary(server.ingest, withKey(key), { events: [event] });
      expect(refused.error?.code).toBe(status.UNAVAILABLE);
      expect(errorDetails(refused.error!).retryDelayMs).toBeGreaterThan(0);
      await holder.query('SELECT pg_advisory_unlock($1)', [PARTITION_LOCK_KEY.toString()]);
      const retried = await ingestUnary(server.ingest, withKey(key), { events: [event] });
      expect(retried.response).toMatchObject({ accepted: 1, duplicates: 0 });
    } finally {
      await holder.end();
    }
  });
});
