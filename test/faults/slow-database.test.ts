import { status } from '@grpc/grpc-js';
import type pg from 'pg';
import { HealthWatch } from '../support/health-watch';
import { pause, reportFigures, residentBytes, useFaultDrill } from '../support/fault-drill';
import { RetryingIngestClient } from '../support/retrying-ingest-client';
import { eventually } from '../support/test-server';

const SENDERS = 16;
const POOL_MAX = 4;
const POOL_MAX_WAITING = 4;
const CONNECTION_TIMEOUT_MS = 1000;
const LOCK_HELD_MS = 6000;
const MiB = 1024 * 1024;

describe('fault drill: a slow database (a lock held on the events table)', () => {
  const drillOf = useFaultDrill('slow-db');

  test('when every merge waits on a lock while 16 retrying streams push 1 KiB events, then the saturated pool answers UNAVAILABLE with RetryInfo within the bounded wait, health stays SERVING, server memory stays bounded, and once the lock goes every acknowledged event is stored once', async () => {
    const drill = drillOf();
    const { key, tenantId } = await drill.tenant('slow');
    const server = await drill.startServer({
      DB_POOL_MAX: String(POOL_MAX),
      DB_POOL_MAX_WAITING: String(POOL_MAX_WAITING),
      DB_POOL_CONNECTION_TIMEOUT: `${CONNECTION_TIMEOUT_MS}ms`,
      INGEST_BATCH_SIZE: '250',
      // The production interval: the drill loads the machine.
      HEALTH_CHECK_INTERVAL: '2s',
    });
    const health = new HealthWatch(server.address, 'telemetry.v1.IngestService');
    // Attempts may wait out the whole lock: their deadline is well past it.
    const client = new RetryingIngestClient(server.address, key, { attemptTimeoutMs: 30_000 });
    let stop = false;
    // Calls of 4 messages of 250 events of about 1 KiB: some 1 MB per call.
    const load = client.run({ senders: SENDERS, messagesPerCall: 4, eventsPerMessage: 250, payloadBytes: 1000, until: () => stop, maxCallsPerSender: 200 });
    await eventually(() => expect(client.summary().acknowledged).toBeGreaterThanOrEqual(SENDERS), 60_000, 100);

    const baselineRss = residentBytes(server.process.pid)!;
    const locker = await drill.pool.connect();
    let lockedAt = 0;
    let releasedAt = 0;
    const rss: number[] = [];
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE');
      lockedAt = Date.now();
      while (Date.now() - lockedAt < LOCK_HELD_MS) {
        rss.push(residentBytes(server.process.pid)!);
        await pause(200);
      }
      await waitingMerges(locker).then((waiting) => expect(waiting).toBe(POOL_MAX));
    } finally {
      await locker.query('COMMIT');
      releasedAt = Date.now();
      locker.release();
    }
    await eventually(() => expect(client.calls.filter((call) => call.response && call.attempts[0]!.startedAt > releasedAt).length).toBeGreaterThanOrEqual(SENDERS), 60_000, 100);
    stop = true;
    await load;
    health.close();
    client.close();

    expect(server.exit).toBeUndefined();
    const attempts = client.calls.flatMap((call) => call.attempts);
    const duringLock = attempts.filter((attempt) => attempt.code !== status.OK && attempt.endedAt >= lockedAt && attempt.startedAt <= releasedAt);
    // Saturation is felt as UNAVAILABLE with RetryInfo, refused at once or after the bounded wait, never later.
    expect(duringLock.length).toBeGreaterThan(0);
    expect(duringLock.filter((attempt) => attempt.code !== status.UNAVAILABLE || !(attempt.retryDelayMs! > 0)).map((attempt) => `${status[attempt.code]}: ${attempt.details}`)).toEqual([]);
    // Refused at once: the pool's waiting line or the write queue is full. Refused after the bounded wait: the write (or its key
    // lookup) waited DB_POOL_CONNECTION_TIMEOUT for the database. With group commit the writes wait in the writer's queue.
    const refusedAtOnce = duringLock.filter((attempt) => attempt.details.includes('every database connection is busy') || attempt.details.includes('INGEST_WRITE_QUEUE_MAX_BYTES'));
    const refusedAfterWait = duringLock.filter(
      (attempt) => attempt.details.includes(`no database connection became free within ${CONNECTION_TIMEOUT_MS} ms`) || attempt.details.includes(`(DB_POOL_CONNECTION_TIMEOUT is ${CONNECTION_TIMEOUT_MS} ms)`),
    );
    expect(refusedAfterWait.length).toBeGreaterThan(0);
    // The database itself was never down.
    expect(refusedAtOnce.length + refusedAfterWait.length).toBe(duringLock.length);
    const slowest = Math.max(...duringLock.map((attempt) => attempt.endedAt - attempt.startedAt));
    // The attempt's own sending plus the bounded wait (twice when its key lookup waited in line too), with room for a busy machine.
    expect(slowest).toBeLessThan(2 * CONNECTION_TIMEOUT_MS + 3000);
    // A saturated pool is not an outage.
    expect(health.statuses).toEqual(['SERVING']);
    const peakRss = Math.max(...rss);
    expect(peakRss - baselineRss).toBeLessThan(128 * MiB);

    const { summary } = await drill.expectEveryCallStoredOnce(client, tenantId);

    const durations = (list: typeof duringLock) => list.map((attempt) => attempt.endedAt - attempt.startedAt).sort((a, b) => a - b);
    reportFigures('slow database (lock held 6 s)', {
      senders: SENDERS,
      pool: { max: POOL_MAX, maxWaiting: POOL_MAX_WAITING, connectionTimeoutMs: CONNECTION_TIMEOUT_MS },
      refusedAtOnce: refusedAtOnce.length,
      refusedAfterWait: refusedAfterWait.length,
      refusedAtOnceMedianMs: durations(refusedAtOnce)[Math.floor(refusedAtOnce.length / 2)],
      refusedAfterWaitMedianMs: durations(refusedAfterWait)[Math.floor(refusedAfterWait.length / 2)],
      slowestRefusalMs: slowest,
      calls: summary.calls,
      eventsAcknowledged: summary.eventsAcknowledged,
      retries: summary.retries,
      baselineRssMiB: Math.round(baselineRss / MiB),
      peakRssMiB: Math.round(peakRss / MiB),
      health: health.statuses,
    });
  });
});

/** How many merges of the server wait for a lock. */
async function waitingMerges(client: pg.PoolClient): Promise<number> {
  const result = await client.query("SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ~ 'INSERT INTO events|EXECUTE telemetry_vault_merge'");
  return (result.rows[0] as { waiting: number }).waiting;
}
