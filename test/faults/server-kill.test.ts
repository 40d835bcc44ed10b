import { freePort, pause, reportFigures, useFaultDrill } from '../support/fault-drill';
import { RetryingIngestClient } from '../support/retrying-ingest-client';
import { eventually } from '../support/test-server';

const SENDERS = 8;

describe('fault drill: the server is killed (SIGKILL) mid-stream and restarted', () => {
  const drillOf = useFaultDrill('sigkill');

  /** How many of `ids` are stored. */
  async function storedAmong(tenantId: string, ids: readonly string[]): Promise<number> {
    const result = await drillOf().pool.query<{ stored: number }>('SELECT count(*)::int AS stored FROM events WHERE tenant_id = $1 AND event_id = ANY($2)', [tenantId, ids]);
    return result.rows[0]!.stored;
  }

  test('when the server is killed while 8 retrying streams are half stored and comes back on the same port, then nothing acknowledged is lost and the retried calls answer what the killed attempts had stored as duplicates, never as second rows', async () => {
    const drill = drillOf();
    const { key, tenantId } = await drill.tenant('killed');
    const port = String(await freePort());
    const env = { GRPC_PORT: port, INGEST_BATCH_SIZE: '100' };
    const first = await drill.startServer(env);
    const client = new RetryingIngestClient(first.address, key);
    let stop = false;
    const load = client.run({ senders: SENDERS, messagesPerCall: 5, eventsPerMessage: 100, messageIntervalMs: 50, unaryEvery: 4, until: () => stop, maxCallsPerSender: 500 });

    await eventually(() => expect(client.summary().acknowledged).toBeGreaterThanOrEqual(2 * SENDERS), 30_000);
    // Kill at a moment when calls in flight have batches committed but are not acknowledged.
    await eventually(async () => expect(await storedAmong(tenantId, client.inFlightEventIds())).toBeGreaterThan(0), 10_000, 5);
    first.process.signal('SIGKILL');
    const killedAt = Date.now();
    await first.process.exited;
    // The killed server's sessions end in PostgreSQL (their open transactions roll back); then what it committed is final.
    await eventually(async () => {
      const sessions = await drill.pool.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'telemetry-vault'");
      expect(sessions.rowCount).toBe(0);
    }, 10_000);
    const storedAfterKill = new Set(await drill.storedIds(tenantId));
    await pause(1000);
    const restartedAt = Date.now();
    const second = await drill.startServer(env);
    const servingMs = Date.now() - restartedAt;
    await eventually(() => expect(client.calls.filter((call) => call.response && call.attempts[0]!.startedAt > restartedAt + servingMs).length).toBeGreaterThanOrEqual(2 * SENDERS), 60_000, 100);
    stop = true;
    await load;
    client.close();

    expect(first.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(second.exit).toBeUndefined();
    const { summary, check } = await drill.expectEveryCallStoredOnce(client, tenantId);

    // The calls the kill cut short: each retry answers exactly what the killed attempt had committed as duplicates.
    const interrupted = client.calls.filter((call) => call.attempts[0]!.startedAt < killedAt && call.attempts.length > 1);
    expect(interrupted.length).toBeGreaterThan(0);
    const storedByKilledAttempts = interrupted.map((call) => call.eventIds.filter((id) => storedAfterKill.has(id)).length);
    expect(interrupted.map((call) => call.response!.duplicates)).toEqual(storedByKilledAttempts);
    expect(storedByKilledAttempts.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);

    const firstAckAfterRestart = Math.min(...client.calls.filter((call) => call.response && call.attempts.at(-1)!.endedAt > restartedAt).map((call) => call.attempts.at(-1)!.endedAt));
    reportFigures('server killed (SIGKILL) mid-stream', {
      senders: SENDERS,
      calls: summary.calls,
      eventsAcknowledged: summary.eventsAcknowledged,
      storedRows: check.storedRows,
      interruptedCalls: interrupted.length,
      duplicatesOnRetry: storedByKilledAttempts.reduce((sum, count) => sum + count, 0),
      retries: summary.retries,
      failures: summary.failures,
      restartToServingMs: servingMs,
      firstAckMsAfterRestart: firstAckAfterRestart - restartedAt,
      downtimeMs: firstAckAfterRestart - killedAt,
    });
  });
});
