import pg from 'pg';
import { createLogger } from '../../src/observability/create-logger';
import { TenantActivity } from '../../src/storage/tenant-activity';
import { createTenantWithKey, ingestUnary, makeEvent, storedEvents } from '../support/ingest-calls';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, LogCapture, startTestServer, withKey } from '../support/test-server';

const TOUCH_MS = 60_000;
const CACHE_MS = 15_000;
const UPDATE = /^UPDATE tenants SET last_seen_at/;

/** A trigger that makes every write of tenants.last_seen_at fail, as a broken or read-only database would. */
const BREAK_WRITES = `
  CREATE FUNCTION refuse_last_seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'last_seen_at writes refused by the test'; END $$;
  CREATE TRIGGER refuse_last_seen BEFORE UPDATE OF last_seen_at ON tenants FOR EACH ROW EXECUTE FUNCTION refuse_last_seen();`;
const MEND_WRITES = 'DROP TRIGGER refuse_last_seen ON tenants; DROP FUNCTION refuse_last_seen();';

describe('tenant activity', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  /** Statements TenantActivity sent, in order (the pool is real; this only watches it). */
  let statements: string[];
  let logs: LogCapture;
  let clock: number;

  const activity = () => new TenantActivity(pool, createLogger({ level: 'debug', pretty: false, destination: logs }), { touchIntervalMs: TOUCH_MS, countCacheMs: CACHE_MS, now: () => clock });
  const lastSeen = async (tenantId: string): Promise<Date | null> => (await db.pool.query<{ at: Date | null }>('SELECT last_seen_at AS at FROM tenants WHERE id = $1', [tenantId])).rows[0]!.at;
  const updates = () => statements.filter((text) => UPDATE.test(text)).length;
  const newTenant = async (name: string) => (await createTenantWithKey(db.pool, name)).tenantId;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const query = pool.query.bind(pool) as (text: string, values?: unknown[]) => Promise<pg.QueryResult>;
    pool.query = ((text: string, values?: unknown[]) => {
      statements.push(text);
      return query(text, values);
    }) as typeof pool.query;
  });

  beforeEach(() => {
    statements = [];
    logs = new LogCapture();
    clock = Date.parse('2025-06-01T12:00:00Z');
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  test('when a tenant is seen again within the touch interval, then last_seen_at is written once; from the interval on, again', async () => {
    const tracked = activity();
    const [first, second] = [await newTenant('first'), await newTenant('second')];
    tracked.seen(first);
    expect(updates()).toBe(1);
    const written = await eventually(async () => {
      const at = await lastSeen(first);
      expect(at).not.toBeNull();
      return at!;
    });

    clock += 1000;
    tracked.seen(first);
    clock += TOUCH_MS - 1001;
    tracked.seen(first);
    expect(updates()).toBe(1);
    // Throttling is per tenant: another one is written at once.
    tracked.seen(second);
    expect(updates()).toBe(2);
    await eventually(async () => expect(await lastSeen(second)).not.toBeNull());

    clock += 1;
    tracked.seen(first);
    expect(updates()).toBe(3);
    await eventually(async () => expect((await lastSeen(first))!.getTime()).toBeGreaterThan(written.getTime()));
  });

  test('when counting, then tenants seen in the last 24 hours count, older and never-seen ones do not, and the count is reused for the cache time', async () => {
    await db.pool.query('UPDATE tenants SET last_seen_at = NULL');
    const [recent, almostDay, overDay, never] = [await newTenant('recent'), await newTenant('almost-a-day'), await newTenant('over-a-day'), await newTenant('never')];
    await db.pool.query("UPDATE tenants SET last_seen_at = now() - interval '1 hour' WHERE id = $1", [recent]);
    await db.pool.query("UPDATE tenants SET last_seen_at = now() - interval '23 hours 59 minutes' WHERE id = $1", [almostDay]);
    await db.pool.query("UPDATE tenants SET last_seen_at = now() - interval '24 hours 1 minute' WHERE id = $1", [overDay]);
    const tracked = activity();
    expect(await tracked.activeLast24h()).toBe(2);

    await db.pool.query('UPDATE tenants SET last_seen_at = now() WHERE id = $1', [never]);
    clock += CACHE_MS - 1;
    const counts = statements.length;
    expect(await tracked.activeLast24h()).toBe(2);
    expect(statements.length).toBe(counts);
    clock += 1;
    expect(await tracked.activeLast24h()).toBe(3);
  });

  test('when the write fails, then seen() does not throw, the failure is logged, and the next sighting retries at once', async () => {
    const tenant = await newTenant('refused');
    await db.pool.query(BREAK_WRITES);
    try {
      const tracked = activity();
      expect(() => tracked.seen(tenant)).not.toThrow();
      await eventually(() => expect(logs.records()).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'recording tenant activity failed', tenantId: tenant })));
      expect(await lastSeen(tenant)).toBeNull();
      await db.pool.query(MEND_WRITES);
      // Same instant, well within the touch interval: the failed write does not count as one.
      tracked.seen(tenant);
      expect(updates()).toBe(2);
      await eventually(async () => expect(await lastSeen(tenant)).not.toBeNull());
    } finally {
      await db.pool.query('DROP TRIGGER IF EXISTS refuse_last_seen ON tenants; DROP FUNCTION IF EXISTS refuse_last_seen();');
    }
  });

  describe('through a server', () => {
    test('when recording activity fails or waits on a lock, then ingest still answers and stores its events, and activity is recorded with a later batch', async () => {
      const server = await startTestServer(db.url);
      const { key, tenantId } = await createTenantWithKey(db.pool, 'ingesting');
      const locker = await db.pool.connect();
      try {
        await db.pool.query(BREAK_WRITES);
        const failed = await ingestUnary(server.ingest, withKey(key), { events: [makeEvent(), makeEvent()] });
        expect(failed.error).toBeUndefined();
        expect(failed.response).toMatchObject({ accepted: 2 });
        await eventually(() => expect(server.logs.records()).toContainEqual(expect.objectContaining({ msg: 'recording tenant activity failed', tenantId })));
        expect(await storedEvents(db.pool, tenantId)).toHaveLength(2);
        expect(await lastSeen(tenantId)).toBeNull();
        await db.pool.query(MEND_WRITES);

        // The tenant's row locked by another transaction: the activity write waits, the call does not.
        await locker.query('BEGIN');
        await locker.query('SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE', [tenantId]);
        const started = Date.now();
        const locked = await ingestUnary(server.ingest, withKey(key), { events: [makeEvent()] }, { deadline: new Date(Date.now() + 5000) });
        expect(locked.error).toBeUndefined();
        expect(locked.response).toMatchObject({ accepted: 1 });
        expect(Date.now() - started).toBeLessThan(5000);
        await eventually(async () => {
          const waiting = await db.pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE tenants SET last_seen_at%'");
          expect(waiting.rows[0].n).toBe(1);
        });
        expect(await lastSeen(tenantId)).toBeNull();
        await locker.query('COMMIT');
        await eventually(async () => expect(await lastSeen(tenantId)).not.toBeNull());
      } finally {
        await locker.query('ROLLBACK').catch(() => undefined);
        locker.release();
        await db.pool.query('DROP TRIGGER IF EXISTS refuse_last_seen ON tenants; DROP FUNCTION IF EXISTS refuse_last_seen();');
        await server.stop();
      }
    });
  });
});
