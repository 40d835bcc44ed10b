import pg from 'pg';
import { BACKGROUND_POOL_MAX } from '../../src/features/platform';
import { PARTITION_LOCK_KEY } from '../../src/storage/event-partitions';
import { createTenantWithKey, ingestUnary, makeEvent } from '../support/ingest-calls';
import { scrapeMetrics } from '../support/prometheus-text';
import { walkAllPages } from '../support/query-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';

/**
 * The background rounds (the data lifecycle, rollup compaction) run on a
 * pool of their own (Platform.backgroundPool): a round that waits on a lock
 * holds one of its connections, never one that calls wait for.
 */
describe('background rounds on their own connections', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    // One connection for calls, and a short wait for it: a lifecycle round on that connection, waiting out its 2 s
    // lock timeout, would make the calls below fail with UNAVAILABLE.
    server = await startTestServer(db.url, { DB_POOL_MAX: '1', DB_POOL_CONNECTION_TIMEOUT: '1s', DATA_LIFECYCLE_INTERVAL: '1s' });
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  /** The application names of the sessions waiting on an advisory lock now (only the vault's rounds take one here). */
  async function waitingOnAdvisoryLock(): Promise<string[]> {
    const result = await db.pool.query<{ application_name: string }>(
      `SELECT application_name FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
    );
    return result.rows.map((row) => row.application_name);
  }

  test('when a data lifecycle round waits on the partition lock, then ingest and queries on a one-connection pool still succeed meanwhile', async () => {
    const { key } = await createTenantWithKey(db.pool, 'beside-the-rounds');
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [PARTITION_LOCK_KEY.toString()]);
      // The round waits on a connection of the background pool.
      await eventually(async () => expect(await waitingOnAdvisoryLock()).toEqual(['telemetry-vault-background']));

      // Sample the database's sessions while the calls run: the round must have been waiting during them.
      let sampling = true;
      let samplesWaiting = 0;
      const sampler = (async () => {
        while (sampling) {
          samplesWaiting += (await waitingOnAdvisoryLock()).length;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const eventIds: string[] = [];
      const outcomes = [];
      let stored;
      try {
        // A call every 25 ms for 3 s (one lock timeout and a round's interval): about 120 calls, under the tenant's
        // default 1000 calls a minute.
        const startedAt = Date.now();
        while (Date.now() - startedAt < 3000) {
          const event = makeEvent();
          eventIds.push(event.eventId);
          outcomes.push(await ingestUnary(server.ingest, withKey(key), { events: [event] }));
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        stored = await walkAllPages(server.query, key, { limit: 1000 });
      } finally {
        sampling = false;
        await sampler;
      }

      expect(samplesWaiting).toBeGreaterThan(0);
      expect(outcomes.map((outcome) => outcome.error?.message ?? 'ok')).toEqual(outcomes.map(() => 'ok'));
      expect(outcomes.every((outcome) => outcome.response?.accepted === 1)).toBe(true);
      expect(stored.map((event) => event.eventId).sort()).toEqual([...eventIds].sort());
    } finally {
      await holder.end();
    }
  });

  test('when metrics are scraped, then the background pool shows its own size', async () => {
    const metrics = await scrapeMetrics(server.httpUrl);
    expect(metrics.single('telemetry_vault_db_pool_connections', { pool: 'background', state: 'max' })).toBe(BACKGROUND_POOL_MAX);
    expect(metrics.single('telemetry_vault_db_pool_connections', { pool: 'primary', state: 'max' })).toBe(1);
  });
});
