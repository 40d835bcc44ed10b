import pg from 'pg';
import { VaultError } from '../../src/domain/vault-error';
import { createLogger } from '../../src/observability/create-logger';
import { BoundedPool } from '../../src/storage/bounded-pool';
import { DatabaseProbe } from '../../src/storage/database-probe';
import { PgLiveTailRepository } from '../../src/storage/live-tail-repository';
import { withConnection } from '../../src/storage/database-session';
import { ReadFailover } from '../../src/storage/read-failover';
import { ReadShare } from '../../src/storage/read-share';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/**
 * ReadShare over a real pg pool: reads hold at most their slots of the
 * primary's pool, so that the connections ingest writes through stay free
 * whatever the reads do (src/storage/read-share.ts).
 */
describe('the primary pool share of reads', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await db.drop();
  });
  beforeEach(() => {
    pool = new pg.Pool({ connectionString: db.url, max: 3 });
  });
  afterEach(async () => {
    await pool.end();
  });

  test('when reads hold their share, then the rest of the pool still serves writers, and one read more waits and is refused past the wait with the limit named', async () => {
    const share = new ReadShare(pool, { slots: 1, waitMs: 300, maxWaiting: 5 });
    const read = await share.connect();
    expect(share.inUse).toBe(1);
    // The writer's connections: the two the share does not take.
    const writers = [await pool.connect(), await pool.connect()];
    await Promise.all(writers.map((client) => client.query('SELECT 1')));
    const started = Date.now();
    const error = await share.connect().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(VaultError);
    expect((error as VaultError).code).toBe('UNAVAILABLE');
    expect((error as VaultError).retryAfterMs).toBeGreaterThan(0);
    expect((error as VaultError).message).toMatch(/no database connection for reads became free within 300 ms \(DB_POOL_CONNECTION_TIMEOUT; reads may hold 1: DB_POOL_MAX less INGEST_WRITE_CONCURRENCY\)/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    for (const client of writers) client.release();
    read.release();
    expect(share.inUse).toBe(0);
  });

  test('when a read gives its connection back, then the read waiting longest gets the slot, and a second release (which pg refuses) frees nothing more', async () => {
    const share = new ReadShare(pool, { slots: 1, waitMs: 5000, maxWaiting: 5 });
    const first = await share.connect();
    const order: string[] = [];
    const second = share.connect().then((client) => (order.push('second'), client));
    const third = share.connect().then((client) => (order.push('third'), client));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(order).toEqual([]);
    first.release();
    // pg refuses a second release, as without the share; it must not free a second slot either.
    expect(() => first.release()).toThrow(/already been released/);
    const secondClient = await second;
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The double release did not hand the third read a slot of its own.
    expect(order).toEqual(['second']);
    expect(share.inUse).toBe(1);
    await secondClient.query('SELECT 1');
    secondClient.release();
    (await third).release();
    expect(order).toEqual(['second', 'third']);
    expect(share.inUse).toBe(0);
  });

  test('when as many reads as DB_POOL_MAX_WAITING already wait, then one more is refused at once', async () => {
    const share = new ReadShare(pool, { slots: 1, waitMs: 5000, maxWaiting: 1 });
    const held = await share.connect();
    const waiting = share.connect();
    const started = Date.now();
    await expect(share.connect()).rejects.toThrow(/reads already hold the 1 database connections they may \(DB_POOL_MAX less INGEST_WRITE_CONCURRENCY\) and 1 reads wait for one \(DB_POOL_MAX_WAITING\); retry the call/);
    expect(Date.now() - started).toBeLessThan(1000);
    held.release();
    (await waiting).release();
    expect(share.inUse).toBe(0);
  });

  test('when a waiting read\'s call stops, then it leaves the line at once with the call\'s reason, and its place in DB_POOL_MAX_WAITING goes to the next read', async () => {
    const share = new ReadShare(pool, { slots: 1, waitMs: 10_000, maxWaiting: 1 });
    const held = await share.connect();
    const call = new AbortController();
    const stopped = new Error('the call was cancelled');
    const waiting = share.connectUntilAborted(call.signal);
    expect(share.waitingCount).toBe(1);
    const started = Date.now();
    call.abort(stopped);
    await expect(waiting).rejects.toBe(stopped);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(share.waitingCount).toBe(0);
    // Its place is free: one more read waits instead of being refused, and gets the slot when it comes back.
    const next = share.connect();
    expect(share.waitingCount).toBe(1);
    held.release();
    const client = await next;
    await client.query('SELECT 1');
    expect(share.inUse).toBe(1);
    client.release();
    expect(share.inUse).toBe(0);
    // A read whose call has already stopped takes nothing.
    await expect(share.connectUntilAborted(AbortSignal.abort(stopped))).rejects.toBe(stopped);
    expect(share.inUse).toBe(0);
    expect(share.waitingCount).toBe(0);
  });

  test('when a call stops while it waits for a full pool that cannot be left (pg-pool), then it fails at once and the connection that comes later goes straight back', async () => {
    const small = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      const holder = await small.connect();
      const { ran } = await stopWhileWaiting(small);
      holder.release();
      // The late connection is released, not kept: the pool's one connection is free for the next caller.
      await expectServedAndIdle(small, await small.connect(), ran);
    } finally {
      await small.end();
    }
  });

  test('when a call stops while it waits in the primary pool\'s own line (BoundedPool), then it leaves that line at once: its place in DB_POOL_MAX_WAITING goes to the next caller, and no connection is handed to it', async () => {
    const bounded = new BoundedPool({ connectionString: db.url, max: 1, maxWaiting: 1, connectionTimeoutMillis: 5000 });
    const held: pg.PoolClient[] = [];
    try {
      held.push(await bounded.connect());
      const { ran } = await stopWhileWaiting(bounded, async () => {
        // The line is full: one more caller is refused at once, naming the limit.
        await expect(bounded.connect()).rejects.toThrow(/1 calls already wait for one/);
      });
      expect(bounded.waitingCount).toBe(0);
      // Its place is free: the next caller waits instead of being refused, and gets the connection when it comes back.
      const next = bounded.connect();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(bounded.waitingCount).toBe(1);
      held.pop()!.release();
      await expectServedAndIdle(bounded, await next, ran);
    } finally {
      // A failed expectation must not leave end() waiting for a connection still out.
      for (const client of held) client.release();
      await bounded.end();
    }
  });

  test('when a read holds a slot of its share but waits for the primary pool, which writers fill, and its call stops, then it leaves the pool\'s line too and gives its slot back', async () => {
    const bounded = new BoundedPool({ connectionString: db.url, max: 2, maxWaiting: 4, connectionTimeoutMillis: 5000 });
    const writers: pg.PoolClient[] = [];
    try {
      const share = new ReadShare(bounded, { slots: 1, waitMs: 5000, maxWaiting: 4 });
      writers.push(await bounded.connect(), await bounded.connect());
      const call = new AbortController();
      const stopped = new Error('the client cancelled the call');
      const read = share.connectUntilAborted(call.signal);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(share.inUse).toBe(1);
      expect(bounded.waitingCount).toBe(1);
      call.abort(stopped);
      await expect(read).rejects.toBe(stopped);
      expect(share.inUse).toBe(0);
      expect(bounded.waitingCount).toBe(0);
      for (const client of writers.splice(0)) client.release();
      expect(bounded.idleCount).toBe(2);
    } finally {
      for (const client of writers) client.release();
      await bounded.end();
    }
  });

  test('when a read through ReadFailover stops while it waits, then it fails at once whichever side it waits on: the replica\'s full pool (not routed to the primary for it) or the primary\'s share (whose line it leaves)', async () => {
    const replica = new pg.Pool({ connectionString: db.url, max: 1 });
    const silent = createLogger({ level: 'silent', pretty: false });
    // Probes of a replica that answers and of one that does not (nothing listens on port 1).
    const up = new DatabaseProbe(db.url, 60_000, silent);
    const down = new DatabaseProbe('postgres://127.0.0.1:1/no_replica_here', 60_000, silent);
    try {
      await up.start();
      await down.start();
      const share = new ReadShare(pool, { slots: 1, waitMs: 10_000, maxWaiting: 5 });
      const stopped = new Error('the call was cancelled');
      const stopWhileWaiting = async (failover: ReadFailover, waitingOn: () => number): Promise<void> => {
        const call = new AbortController();
        const settled = withConnection(failover, call.signal, async () => 'ran').then(
          () => 'answered',
          (error: unknown) => error,
        );
        while (waitingOn() === 0) await new Promise((resolve) => setTimeout(resolve, 10));
        const started = Date.now();
        call.abort(stopped);
        expect(await settled).toBe(stopped);
        expect(Date.now() - started).toBeLessThan(1000);
      };

      // The replica answers and its one connection is busy: the read waits in pg-pool's line, which it cannot leave.
      const toReplica = new ReadFailover(replica, share, up, silent);
      const onReplica = await replica.connect();
      await stopWhileWaiting(toReplica, () => replica.waitingCount);
      expect(toReplica.readingFromPrimary).toBe(false);
      expect(share.inUse).toBe(0);
      onReplica.release();
      // The connection the stopped read was given later went straight back.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(replica.idleCount).toBe(1);

      // The replica is down, so reads go to the primary, whose share's one connection is busy.
      const toPrimary = new ReadFailover(replica, share, down, silent);
      expect(toPrimary.readingFromPrimary).toBe(true);
      const onPrimary = await share.connect();
      await stopWhileWaiting(toPrimary, () => share.waitingCount);
      expect(share.waitingCount).toBe(0);
      onPrimary.release();
      expect(share.inUse).toBe(0);
    } finally {
      await up.stop();
      await down.stop();
      await replica.end();
    }
  });

  test('when a follow\'s snapshot read stops while it waits for the share, then it fails at once with the call\'s reason and leaves the line', async () => {
    const share = new ReadShare(pool, { slots: 1, waitMs: 10_000, maxWaiting: 5 });
    const repository = new PgLiveTailRepository(pool, share, 10_000, 1024 * 1024);
    const held = await share.connect();
    const call = new AbortController();
    const stopped = new Error('the follow was cancelled');
    const opening = repository.openSnapshot({ timeoutMs: 10_000, signal: call.signal }).then(
      () => 'opened',
      (error: unknown) => error,
    );
    expect(share.waitingCount).toBe(1);
    const started = Date.now();
    call.abort(stopped);
    expect(await opening).toBe(stopped);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(share.waitingCount).toBe(0);
    held.release();
    expect(share.inUse).toBe(0);
  });

  test('when the pool cannot connect, then the slot is given back', async () => {
    const broken = new pg.Pool({ connectionString: db.url.replace(/\/[^/]*$/, '/no_such_database_here'), max: 2 });
    const share = new ReadShare(broken, { slots: 1, waitMs: 1000, maxWaiting: 5 });
    try {
      await expect(share.connect()).rejects.toThrow();
      expect(share.inUse).toBe(0);
      await expect(share.connect()).rejects.toThrow();
      expect(share.inUse).toBe(0);
    } finally {
      await broken.end();
    }
  });
});

/**
 * Starts a unit of work on `pool`, whose connections are all held, and once
 * it waits in the pool's line (after `whileWaiting`) stops its call: the
 * work must fail at once with the call's reason. `ran` says later whether
 * the work ever ran.
 */
async function stopWhileWaiting(pool: pg.Pool, whileWaiting: () => Promise<void> = async () => undefined): Promise<{ ran: () => boolean }> {
  const call = new AbortController();
  const stopped = new Error('the call passed its deadline');
  let ran = false;
  const work = withConnection(pool, call.signal, async () => {
    ran = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(pool.waitingCount).toBe(1);
  await whileWaiting();
  const started = Date.now();
  call.abort(stopped);
  await expect(work).rejects.toBe(stopped);
  expect(Date.now() - started).toBeLessThan(1000);
  return { ran: () => ran };
}

/**
 * The next caller's connection (`next`) works and goes back, the stopped
 * work never ran, and the pool's one connection is idle: nothing was kept
 * for the caller that stopped.
 */
async function expectServedAndIdle(pool: pg.Pool, next: pg.PoolClient, ran: () => boolean): Promise<void> {
  await next.query('SELECT 1');
  next.release();
  expect(ran()).toBe(false);
  expect(pool.totalCount).toBe(1);
  expect(pool.idleCount).toBe(1);
}
