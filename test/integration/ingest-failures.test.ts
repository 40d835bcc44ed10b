import { status } from '@grpc/grpc-js';
import { useRestartableVault } from '../support/restartable-vault';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';
import { createTenantWithKey, errorDetails, ingestStream, ingestUnary, makeEvent, storedEvents } from '../support/ingest-calls';

const events = (count: number) => Array.from({ length: count }, () => makeEvent());

describe('ingestion when the database stops mid-stream', () => {
  // Batches of 5 commit as the stream goes; the auth cache outlives the outage's first calls.
  const vault = useRestartableVault('tv-ingest-down-', { INGEST_BATCH_SIZE: '5', AUTH_CACHE_TTL: '5s', DB_POOL_CONNECTION_TIMEOUT: '1s' });

  test('when the database stops during a stream, then the call fails UNAVAILABLE with RetryInfo, the server lives, nothing unstored was acknowledged, and retrying after the restart completes it', async () => {
    const { cluster, server, pool } = vault();
    const { key, tenantId } = await createTenantWithKey(pool, 'outage');
    const acknowledged = events(4);
    expect((await ingestUnary(server.ingest, withKey(key), { events: acknowledged })).response?.accepted).toBe(4);

    const first = events(5);
    const second = events(5);
    const result = await ingestStream(server.ingest, withKey(key), [{ events: first }, { events: second }], {
      beforeEach: async (index) => {
        if (index !== 1) return;
        // The first message's batch is committed; then the database goes away.
        await eventually(async () => expect((await storedEvents(pool, tenantId)).length).toBe(9));
        await cluster.stop('immediate');
      },
    });
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.response).toBeUndefined();
    expect(errorDetails(result.error!).retryDelayMs).toBeGreaterThan(0);

    const whileDown = await ingestUnary(server.ingest, withKey(key), { events: events(1) });
    expect(whileDown.error?.code).toBe(status.UNAVAILABLE);
    expect(errorDetails(whileDown.error!).retryDelayMs).toBeGreaterThan(0);

    await cluster.start();
    // Every acknowledged event is there; retrying the failed call is safe and completes it.
    const ids = new Set((await storedEvents(pool, tenantId)).map((row) => row.event_id));
    for (const event of acknowledged) expect(ids.has(event.eventId)).toBe(true);
    const retried = await eventually(async () => {
      const retry = await ingestStream(server.ingest, withKey(key), [{ events: first }, { events: second }]);
      expect(retry.error).toBeUndefined();
      return retry.response!;
    }, 20_000, 250);
    expect(retried.accepted + retried.duplicates).toBe(10);
    expect(retried.duplicates).toBe(5);
    expect(await storedEvents(pool, tenantId)).toHaveLength(14);
  });
});

describe('ingestion under database pressure', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  let tenantId: string;
  let unblock: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    // One connection: one group is written at a time, and the write queue holds at most 1 MiB. The background
    // rounds (data lifecycle, rollup compaction) run on a pool of their own (background-pool.test.ts), so they never
    // take that connection; they are put off all the same, so that the only sessions waiting on these tests' lock on
    // events are the calls'.
    server = await startTestServer(db.url, {
      DB_POOL_MAX: '1',
      DB_POOL_MAX_WAITING: '0',
      AUTH_CACHE_TTL: '5s',
      DB_POOL_CONNECTION_TIMEOUT: '1s',
      INGEST_WRITE_QUEUE_MAX_BYTES: '1MiB',
      DATA_LIFECYCLE_INTERVAL: '1h',
      ROLLUP_COMPACTION_INTERVAL: '0',
    });
    ({ key, tenantId } = await createTenantWithKey(db.pool, 'pressure'));
  });

  afterEach(async () => {
    await unblock?.();
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  /** Blocks every merge into events until the returned function (or afterEach) is called. */
  async function blockMerges(): Promise<() => Promise<void>> {
    const locker = await db.pool.connect();
    locker.on('error', () => undefined);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE');
    unblock = async () => {
      unblock = undefined;
      await locker.query('COMMIT').catch(() => undefined);
      locker.release();
    };
    return unblock;
  }

  /**
   * Waits until a merge of the server is waiting for the lock. When none is
   * seen, the error lists what the database's sessions were doing, so that a
   * rare failure says why.
   */
  async function mergeIsBlocked(): Promise<void> {
    try {
      await eventually(async () => {
        const waiting = await db.pool.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ~ 'INSERT INTO events|EXECUTE telemetry_vault_merge'");
        expect(waiting.rowCount).toBe(1);
      });
    } catch (error) {
      const { rows } = await db.pool.query(
        "SELECT application_name, state, wait_event_type, wait_event, left(query, 120) AS query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
      );
      throw new Error(`no merge waits for the lock; the sessions: ${JSON.stringify(rows)}; server log tail: ${server.logs.text.slice(-2000)}`, { cause: error });
    }
  }

  test('when the writer is busy, then a batch that waits past DB_POOL_CONNECTION_TIMEOUT for its group gets UNAVAILABLE with RetryInfo, and the busy one completes', async () => {
    await ingestUnary(server.ingest, withKey(key), { events: events(1) }); // caches the key
    const release = await blockMerges();
    const blocked = ingestUnary(server.ingest, withKey(key), { events: events(2) });
    await mergeIsBlocked();
    const refused = await ingestUnary(server.ingest, withKey(key), { events: events(2) });
    expect(refused.error?.code).toBe(status.UNAVAILABLE);
    expect(refused.error?.details).toContain('DB_POOL_CONNECTION_TIMEOUT is 1000 ms');
    expect(errorDetails(refused.error!).retryDelayMs).toBeGreaterThan(0);
    await release();
    expect((await blocked).response?.accepted).toBe(2);
  });

  test('when the batches waiting for the busy writer would pass INGEST_WRITE_QUEUE_MAX_BYTES, then the next call gets UNAVAILABLE at once and the waiting ones are stored', async () => {
    await ingestUnary(server.ingest, withKey(key), { events: events(1) });
    const release = await blockMerges();
    const blocked = ingestUnary(server.ingest, withKey(key), { events: events(2) });
    await mergeIsBlocked();
    const large = () => Array.from({ length: 10 }, () => makeEvent({ payloadJson: JSON.stringify({ text: 'x'.repeat(60_000) }) }));
    const waiting = ingestUnary(server.ingest, withKey(key), { events: large() });
    await new Promise((resolve) => setTimeout(resolve, 200)); // the first large call is queued
    const refused = await ingestUnary(server.ingest, withKey(key), { events: large() });
    expect(refused.error?.code).toBe(status.UNAVAILABLE);
    expect(refused.error?.details).toContain('INGEST_WRITE_QUEUE_MAX_BYTES');
    expect(errorDetails(refused.error!).retryDelayMs).toBeGreaterThan(0);
    await release();
    expect((await blocked).response?.accepted).toBe(2);
    expect((await waiting).response?.accepted).toBe(10);
  });

  test('when the deadline passes while a batch is being written, then the call ends DEADLINE_EXCEEDED and the batch is not stored', async () => {
    await ingestUnary(server.ingest, withKey(key), { events: events(1) });
    const release = await blockMerges();
    const late = events(3);
    const logged = server.logs.text.length;
    const result = await ingestUnary(server.ingest, withKey(key), { events: late }, { deadline: Date.now() + 1500 });
    expect(result.error?.code).toBe(status.DEADLINE_EXCEEDED);
    // The client's deadline timer fires before the server's (whose clock
    // starts when the call arrives), and the client then resets the stream:
    // the server ends the call either by its own deadline (DEADLINE_EXCEEDED)
    // or by that reset (CANCELLED), whichever it sees first. The lock is let
    // go only once the server has given up on the call, and the merge it held
    // up must then not commit (the deadline guard before COMMIT, or the
    // dropped connection of a cancelled call).
    await eventually(() => expect(server.logs.text.slice(logged)).toMatch(/"code":"(DEADLINE_EXCEEDED|CANCELLED)"[^\n]*IngestService\/Ingest"|IngestService\/Ingest"[^\n]*"code":"(DEADLINE_EXCEEDED|CANCELLED)"/));
    await release();
    const ids = new Set((await storedEvents(db.pool, tenantId)).map((row) => row.event_id));
    for (const event of late) expect(ids.has(event.eventId)).toBe(false);
  });

  test('when the client cancels while a batch is being written, then the batch is rolled back', async () => {
    await ingestUnary(server.ingest, withKey(key), { events: events(1) });
    const release = await blockMerges();
    const cancelled = events(3);
    const call = server.ingest.ingestStream(withKey(key), () => undefined);
    call.on('error', () => undefined);
    call.write({ events: cancelled });
    call.end();
    await mergeIsBlocked();
    call.cancel();
    // The call's group had no other member: its connection is dropped, and the blocked merge ends in the database while the lock is still held.
    await eventually(() => expect(server.logs.text).toMatch(/IngestService\/IngestStream[^\n]*"code":"CANCELLED"|"code":"CANCELLED"[^\n]*IngestService\/IngestStream/));
    await eventually(async () => {
      const waiting = await db.pool.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ~ 'INSERT INTO events|EXECUTE telemetry_vault_merge'");
      expect(waiting.rowCount).toBe(0);
    });
    await release();
    const ids = new Set((await storedEvents(db.pool, tenantId)).map((row) => row.event_id));
    for (const event of cancelled) expect(ids.has(event.eventId)).toBe(false);
    expect((await ingestUnary(server.ingest, withKey(key), { events: events(1) })).response?.accepted).toBe(1);
  });
});
