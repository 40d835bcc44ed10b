import { status } from '@grpc/grpc-js';
import { HealthWatch } from '../support/health-watch';
import { pause, reportFigures, useFaultDrill } from '../support/fault-drill';
import { RetryingIngestClient } from '../support/retrying-ingest-client';
import { eventually } from '../support/test-server';

const SENDERS = 8;
const OUTAGE_MS = 3000;

describe('fault drill: the database crashes during ingest', () => {
  const drillOf = useFaultDrill('db-crash');

  test('when PostgreSQL stops with an immediate shutdown under 8 retrying streams and restarts 3 s later, then every acknowledged event is stored exactly once, the counts add up, the server lives on and health goes NOT_SERVING and back to SERVING', async () => {
    const drill = drillOf();
    const { key, tenantId } = await drill.tenant('crash');
    // Batches of 100 commit while a call goes on, so that the crash catches calls half stored.
    const server = await drill.startServer({ INGEST_BATCH_SIZE: '100' });
    const health = new HealthWatch(server.address, 'telemetry.v1.IngestService');
    const client = new RetryingIngestClient(server.address, key);
    let stop = false;
    // Streams of 5 messages of 100 events (one message every 50 ms), every 4th call unary.
    const load = client.run({ senders: SENDERS, messagesPerCall: 5, eventsPerMessage: 100, messageIntervalMs: 50, unaryEvery: 4, until: () => stop, maxCallsPerSender: 500 });

    await eventually(() => expect(client.summary().acknowledged).toBeGreaterThanOrEqual(2 * SENDERS), 30_000);
    const crashedAt = Date.now();
    await drill.cluster.stop('immediate');
    await pause(OUTAGE_MS);
    const restartedAt = Date.now();
    await drill.cluster.start();
    const restartMs = Date.now() - restartedAt;
    // Go on until every sender has had calls acknowledged after the restart.
    await eventually(() => expect(client.calls.filter((call) => call.response && call.attempts[0]!.startedAt > restartedAt + restartMs).length).toBeGreaterThanOrEqual(2 * SENDERS), 60_000, 100);
    stop = true;
    await load;
    health.close();
    client.close();

    expect(server.exit).toBeUndefined();
    const { summary, check } = await drill.expectEveryCallStoredOnce(client, tenantId);
    // The outage was felt, only as retryable statuses, each with RetryInfo from the server.
    expect(summary.failures.UNAVAILABLE).toBeGreaterThan(0);
    expect(Object.keys(summary.failures).filter((code) => code !== 'UNAVAILABLE' && code !== 'DEADLINE_EXCEEDED')).toEqual([]);
    const failedAttempts = client.calls.flatMap((call) => call.attempts).filter((attempt) => attempt.code === status.UNAVAILABLE);
    expect(failedAttempts.filter((attempt) => attempt.retryDelayMs === undefined).map((attempt) => attempt.details)).toEqual([]);

    const notServingAt = health.firstAfter('NOT_SERVING', crashedAt);
    expect(notServingAt).toBeDefined();
    const servingAgainAt = health.firstAfter('SERVING', notServingAt!);
    expect(servingAgainAt).toBeDefined();
    expect(servingAgainAt!).toBeGreaterThanOrEqual(restartedAt);

    const firstAckAfterRestart = Math.min(...client.calls.filter((call) => call.response && call.attempts.at(-1)!.endedAt > restartedAt).map((call) => call.attempts.at(-1)!.endedAt));
    reportFigures('database crash during ingest', {
      senders: SENDERS,
      calls: summary.calls,
      eventsAcknowledged: summary.eventsAcknowledged,
      storedRows: check.storedRows,
      accepted: summary.accepted,
      duplicates: summary.duplicates,
      retries: summary.retries,
      retriedCalls: summary.retriedCalls,
      failures: summary.failures,
      outageMs: restartedAt - crashedAt,
      postgresRestartMs: restartMs,
      notServingMsAfterCrash: notServingAt! - crashedAt,
      servingMsAfterRestart: servingAgainAt! - restartedAt,
      firstAckMsAfterRestart: firstAckAfterRestart - restartedAt,
      health: health.statuses,
    });
  });
});
