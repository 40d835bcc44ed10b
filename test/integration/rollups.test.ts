import type pg from 'pg';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { GroupBy } from '../../src/gen/telemetry/v1/query_service';
import { EventRollupRepository } from '../../src/storage/event-rollup-repository';
import { createTenantWithKey, ingestStream, ingestUnary, makeEvent } from '../support/ingest-calls';
import { aggregate } from '../support/query-fixtures';
import { BASE_US, makeEvents, seedEvents } from '../support/seed-events';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';

/**
 * The per-minute rollups (migrations/0005_event-rollups.sql): written by
 * the ingest merge in its transaction, compacted in the background, expired
 * with retention, read by Aggregate when its request is aligned to minutes.
 */

const MINUTE_MS = 60_000;

/** Per (minute, type, service): the events stored, and what the rollups (compacted rows plus deltas) say. */
async function countsOf(pool: pg.Pool, tenantId: string): Promise<{ events: Record<string, number>; rollups: Record<string, number> }> {
  const read = async (sql: string): Promise<Record<string, number>> =>
    Object.fromEntries((await pool.query<{ key: string; n: number }>(sql, [tenantId])).rows.map((row) => [row.key, Number(row.n)]));
  return {
    events: await read(`SELECT concat_ws('|', date_bin('1 minute', "timestamp", TIMESTAMPTZ 'epoch'), event_type, service_name) AS key, count(*) AS n FROM events WHERE tenant_id = $1 GROUP BY 1`),
    rollups: await read(
      `SELECT concat_ws('|', minute, event_type, service_name) AS key, sum(events) AS n
       FROM (SELECT * FROM event_rollups UNION ALL SELECT * FROM event_rollup_deltas) AS r WHERE tenant_id = $1 GROUP BY 1`,
    ),
  };
}

async function rowCounts(pool: pg.Pool, tenantId: string): Promise<{ compacted: number; deltas: number }> {
  const { rows } = await pool.query<{ compacted: number; deltas: number }>(
    'SELECT (SELECT count(*) FROM event_rollups WHERE tenant_id = $1)::int AS compacted, (SELECT count(*) FROM event_rollup_deltas WHERE tenant_id = $1)::int AS deltas',
    [tenantId],
  );
  return rows[0]!;
}

/** The start of the minute before the current one. */
function previousMinuteStartMs(): number {
  return Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - MINUTE_MS;
}

/** `count` events in one minute (by default the one before the current one), over two types and two services. */
function sameMinuteEvents(count: number, prefix: string, minuteStartMs = previousMinuteStartMs()): Event[] {
  return Array.from({ length: count }, (_, i) => {
    const ms = minuteStartMs + ((i * 7919) % MINUTE_MS);
    return makeEvent({ eventId: `${prefix}-${i}`, timestamp: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 }, eventType: i % 2 ? 'log' : 'metric', serviceName: i % 3 ? 'api' : 'checkout' });
  });
}

describe('rollups', () => {
  let db: TestDatabase;
  let server: TestServer;
  let rollups: EventRollupRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    // No background compaction: the tests compact when they mean to.
    server = await startTestServer(db.url, { ROLLUP_COMPACTION_INTERVAL: '0', RATE_LIMIT_EVENTS_PER_SECOND: '1000000', RATE_LIMIT_EVENT_BURST: '1000000' });
    rollups = new EventRollupRepository(db.pool);
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  test('when 16 streams of one tenant write the same minute while compactions run, then the rollups count every stored event exactly, before and after the last compaction', async () => {
    const tenant = await createTenantWithKey(db.pool, 'hot-minute');
    // One minute for all 16 streams, taken once: building them takes tens of ms, and a minute boundary in between
    // would split their events over two minutes (8 compacted rows, not 4).
    const minuteStartMs = previousMinuteStartMs();
    const streams = Array.from({ length: 16 }, (_, stream) => {
      const events = sameMinuteEvents(600, `s${stream}`, minuteStartMs);
      const messages = Array.from({ length: 6 }, (_, m) => ({ events: events.slice(m * 100, m * 100 + 100) }));
      return ingestStream(server.ingest, withKey(tenant.key), messages);
    });
    let writing = true;
    const compacting = (async () => {
      while (writing) await Promise.all([rollups.compact(50, 2), rollups.compact(50, 2)]);
    })();
    const results = await Promise.all(streams);
    writing = false;
    await compacting;
    for (const result of results) expect(result.error).toBeUndefined();

    const before = await countsOf(db.pool, tenant.tenantId);
    expect(Object.values(before.events).reduce((sum, n) => sum + n, 0)).toBe(16 * 600);
    expect(before.rollups).toEqual(before.events);

    while ((await rollups.compact(50, 100)) !== 0);
    const after = await countsOf(db.pool, tenant.tenantId);
    expect(after.rollups).toEqual(before.events);
    // One row per key once compacted: (1 minute) x (2 types) x (2 services).
    expect(await rowCounts(db.pool, tenant.tenantId)).toEqual({ compacted: 4, deltas: 0 });
  });

  test('when a call carries duplicates and is then retried, then the rollups count each event once', async () => {
    const tenant = await createTenantWithKey(db.pool, 'duplicates');
    const [a, b] = sameMinuteEvents(2, 'dup');
    const request = { events: [a!, b!, { ...a!, eventType: 'other-type' }] };
    expect((await ingestUnary(server.ingest, withKey(tenant.key), request)).response?.accepted).toBe(2);
    expect((await ingestUnary(server.ingest, withKey(tenant.key), request)).response?.accepted).toBe(0);
    const counts = await countsOf(db.pool, tenant.tenantId);
    expect(Object.values(counts.rollups).reduce((sum, n) => sum + n, 0)).toBe(2);
    expect(counts.rollups).toEqual(counts.events);
  });

  test('when a call is cancelled while its group waits, then the group is rolled back and leaves no rollup rows', async () => {
    const tenant = await createTenantWithKey(db.pool, 'cancelled');
    const blocker = await db.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE event_rollup_deltas IN ACCESS EXCLUSIVE MODE');
      const call = server.ingest.ingest({ events: sameMinuteEvents(10, 'cancel') }, withKey(tenant.key), () => undefined);
      await eventually(async () => expect((await db.pool.query("SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'event_rollup_deltas' AND NOT l.granted")).rowCount).toBe(1));
      call.cancel();
      // The group's transaction is gone once nothing waits for the lock any more.
      await eventually(async () => expect((await db.pool.query("SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'event_rollup_deltas' AND NOT l.granted")).rowCount).toBe(0));
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    expect(await rowCounts(db.pool, tenant.tenantId)).toEqual({ compacted: 0, deltas: 0 });
    expect((await db.pool.query('SELECT 1 FROM events WHERE tenant_id = $1', [tenant.tenantId])).rowCount).toBe(0);
  });

  test('when writing the rollups fails, then the call fails and no event of it is stored', async () => {
    const tenant = await createTenantWithKey(db.pool, 'failed');
    await db.pool.query(`CREATE FUNCTION refuse_rollup() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'rollups refused by the test'; END $$`);
    await db.pool.query(`CREATE TRIGGER refuse_rollup BEFORE INSERT ON event_rollup_deltas FOR EACH ROW WHEN (NEW.tenant_id = '${tenant.tenantId}'::uuid) EXECUTE FUNCTION refuse_rollup()`);
    try {
      const result = await ingestUnary(server.ingest, withKey(tenant.key), { events: sameMinuteEvents(10, 'fail') });
      expect(result.error?.code).toBeDefined();
    } finally {
      await db.pool.query('DROP TRIGGER refuse_rollup ON event_rollup_deltas; DROP FUNCTION refuse_rollup()');
    }
    expect((await db.pool.query('SELECT 1 FROM events WHERE tenant_id = $1', [tenant.tenantId])).rowCount).toBe(0);
    expect(await rowCounts(db.pool, tenant.tenantId)).toEqual({ compacted: 0, deltas: 0 });
  });

  test('when the server compacts in the background, then the deltas end up in one row per key and the counts stay exact', async () => {
    const compactingServer = await startTestServer(db.url, { ROLLUP_COMPACTION_INTERVAL: '100ms', ROLLUP_COMPACTION_BATCH: '7' });
    try {
      const tenant = await createTenantWithKey(db.pool, 'background');
      for (let call = 0; call < 5; call++) {
        expect((await ingestUnary(compactingServer.ingest, withKey(tenant.key), { events: sameMinuteEvents(50, `bg${call}`) })).error).toBeUndefined();
      }
      await eventually(async () => expect((await rowCounts(db.pool, tenant.tenantId)).deltas).toBe(0));
      const counts = await countsOf(db.pool, tenant.tenantId);
      expect(counts.rollups).toEqual(counts.events);
      expect((await rowCounts(db.pool, tenant.tenantId)).compacted).toBe(Object.keys(counts.events).length);
    } finally {
      await compactingServer.stop();
    }
  });

  test('when a tenant’s rollups expire at a cutoff inside a minute, then the whole minutes before it are deleted, and the cut minute stays', async () => {
    const tenant = await createTenantWithKey(db.pool, 'expiring');
    // One event every 20 s over 30 minutes from BASE_US.
    await seedEvents(db.pool, tenant.tenantId, makeEvents(90).map((event, i) => ({ ...event, timestampUs: BASE_US + BigInt(i) * 20_000_000n })));
    await rollups.compact(10, 1);
    const cutoffUs = BASE_US + 4n * 60_000_000n + 30_000_000n;
    expect(await rollups.expire(tenant.tenantId, cutoffUs, 3)).toBeGreaterThan(0);
    const { rows } = await db.pool.query<{ first: Date }>(
      'SELECT min(minute) AS first FROM (SELECT minute, tenant_id FROM event_rollups UNION ALL SELECT minute, tenant_id FROM event_rollup_deltas) AS r WHERE tenant_id = $1',
      [tenant.tenantId],
    );
    expect(rows[0]!.first.getTime()).toBe(Number((BASE_US + 4n * 60_000_000n) / 1000n));
  });

  test('when Aggregate is aligned to whole minutes, then it is answered from the rollups, and otherwise from the events', async () => {
    const tenant = await createTenantWithKey(db.pool, 'paths');
    await seedEvents(db.pool, tenant.tenantId, makeEvents(30));
    // Events deleted behind the rollups' back (never done by the vault): only the scan sees it.
    await db.pool.query('DELETE FROM events WHERE tenant_id = $1', [tenant.tenantId]);
    const aligned = await aggregate(server.query, tenant.key, { groupBy: [GroupBy.GROUP_BY_EVENT_TYPE], bucket: { seconds: 3600, nanos: 0 } });
    expect(aligned.rows.reduce((sum, row) => sum + row.count, 0)).toBe(30);
    const offMinute = await aggregate(server.query, tenant.key, { groupBy: [GroupBy.GROUP_BY_EVENT_TYPE], bucket: { seconds: 90, nanos: 0 } });
    expect(offMinute.rows).toEqual([]);
    const withPayload = await aggregate(server.query, tenant.key, { filter: { payloadContains: { level: 'info' } } });
    expect(withPayload.rows.map((row) => row.count)).toEqual([0]);
  });
});
