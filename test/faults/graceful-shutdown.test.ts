import { credentials, status } from '@grpc/grpc-js';
import { IngestServiceClient } from '../../src/gen/telemetry/v1/ingest_service';
import { HealthWatch } from '../support/health-watch';
import { freePort, pause, reportFigures, useFaultDrill, type FaultDrill } from '../support/fault-drill';
import { RetryingIngestClient, type PlannedCall } from '../support/retrying-ingest-client';
import { ingestUnary, makeEvent } from '../support/ingest-calls';
import { eventually, withKey } from '../support/test-server';

const STREAMS = 8;

/** `STREAMS` calls of `messages` messages of 100 events each. */
function plannedStreams(messages: number, messageIntervalMs: number): PlannedCall[] {
  return Array.from({ length: STREAMS }, (_, stream) => ({
    messages: Array.from({ length: messages }, () => Array.from({ length: 100 }, () => makeEvent({ serviceName: `stream-${stream}` }))),
    messageIntervalMs,
  }));
}

/** Waits until every planned call has had its first message committed (so that each is truly in flight). */
async function everyStreamHasCommitted(drill: FaultDrill, tenantId: string, calls: readonly PlannedCall[]): Promise<void> {
  await eventually(async () => {
    const stored = new Set(await drill.storedIds(tenantId));
    expect(calls.filter((call) => !call.messages[0]!.some((event) => stored.has(event.eventId)))).toHaveLength(0);
  }, 20_000);
}

describe('fault drill: graceful shutdown (SIGTERM) with 8 streams in flight', () => {
  const drillOf = useFaultDrill('sigterm');

  test('when SIGTERM arrives while 8 streams are sending, then they complete and commit, new calls are refused, health turns NOT_SERVING and the process exits 0 within the grace period', async () => {
    const drill = drillOf();
    const { key, tenantId } = await drill.tenant('drain');
    const other = await drill.tenant('bystander');
    const server = await drill.startServer({ SHUTDOWN_GRACE_PERIOD: '15s', INGEST_BATCH_SIZE: '100' });
    const health = new HealthWatch(server.address, '');
    const client = new RetryingIngestClient(server.address, key);
    // 8 streams of 20 messages, one every 150 ms: about 3 s each.
    const bystander = new IngestServiceClient(server.address, credentials.createInsecure());
    expect((await ingestUnary(bystander, withKey(other.key), { events: [makeEvent()] })).response?.accepted).toBe(1);
    const calls = plannedStreams(20, 150);
    const sending = calls.map((call) => client.send(call));
    await everyStreamHasCommitted(drill, tenantId, calls);

    const signalledAt = Date.now();
    server.process.signal('SIGTERM');
    await pause(200);
    // A new client, and a call on a connection that was open before the signal: both refused.
    const late = new RetryingIngestClient(server.address, key, { giveUpAfterMs: 0 });
    const refused = await late.send({ messages: [[makeEvent()]] });
    const onOpenConnection = await ingestUnary(bystander, withKey(other.key), { events: [makeEvent()] });
    const results = await Promise.all(sending);
    const exit = await server.process.exited;
    const exitMs = Date.now() - signalledAt;
    late.close();
    bystander.close();
    health.close();

    expect(results.map((result) => result.response === undefined ? status[result.attempts.at(-1)!.code] : 'OK')).toEqual(Array(STREAMS).fill('OK'));
    // Each was still sending when the signal came, and was answered after it.
    expect(results.filter((result) => result.attempts.length !== 1 || result.attempts[0]!.endedAt <= signalledAt)).toEqual([]);
    expect(refused.response).toBeUndefined();
    expect(refused.error?.code).toBe(status.UNAVAILABLE);
    expect(onOpenConnection.error?.code).toBe(status.UNAVAILABLE);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(15_000);
    expect(health.statuses.at(-1)).toBe('NOT_SERVING');
    const { check } = await drill.expectEveryCallStoredOnce(client, tenantId);
    expect(check.storedRows).toBe(STREAMS * 20 * 100);
    client.close();
    reportFigures('graceful shutdown, streams shorter than the grace period', {
      streams: STREAMS,
      eventsAcknowledged: client.summary().eventsAcknowledged,
      exitCode: exit.code,
      exitMsAfterSigterm: exitMs,
      newCall: status[refused.error!.code],
      health: health.statuses,
    });
  });

  test('when the in-flight streams outlast the grace period, then they fail with UNAVAILABLE and RetryInfo (never a silent loss), the process exits 0, and retried against the restarted server every event is stored once', async () => {
    const drill = drillOf();
    const { key, tenantId } = await drill.tenant('cut-short');
    const port = String(await freePort());
    const first = await drill.startServer({ GRPC_PORT: port, SHUTDOWN_GRACE_PERIOD: '1500ms', INGEST_BATCH_SIZE: '100' });
    const client = new RetryingIngestClient(first.address, key);
    // 8 streams of 40 messages, one every 150 ms: 6 s each, far past the grace period.
    const calls = plannedStreams(40, 150);
    const sending = calls.map((call) => client.send(call));
    await everyStreamHasCommitted(drill, tenantId, calls);

    const signalledAt = Date.now();
    first.process.signal('SIGTERM');
    const exit = await first.process.exited;
    const exitMs = Date.now() - signalledAt;
    const second = await drill.startServer({ GRPC_PORT: port, INGEST_BATCH_SIZE: '100' });
    const results = await Promise.all(sending);
    const restartedAt = second.process.records().find((record) => record.msg === 'telemetry vault serving');

    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(1500 + 5000);
    const firstAttempts = results.map((result) => result.attempts[0]!);
    expect(firstAttempts.map((attempt) => status[attempt.code])).toEqual(Array(STREAMS).fill('UNAVAILABLE'));
    for (const attempt of firstAttempts) expect(attempt.retryDelayMs).toBeGreaterThan(0);
    const { summary, check } = await drill.expectEveryCallStoredOnce(client, tenantId);
    expect(check.storedRows).toBe(STREAMS * 40 * 100);
    // What the cut-short attempts had committed came back as duplicates, not as second rows.
    expect(summary.duplicates).toBeGreaterThan(0);
    client.close();
    reportFigures('graceful shutdown, streams longer than the grace period', {
      streams: STREAMS,
      exitCode: exit.code,
      exitMsAfterSigterm: exitMs,
      firstAttempts: firstAttempts.map((attempt) => status[attempt.code]),
      eventsAcknowledged: summary.eventsAcknowledged,
      duplicatesOnRetry: summary.duplicates,
      retries: summary.retries,
      restartLogged: restartedAt !== undefined,
    });
  });
});
