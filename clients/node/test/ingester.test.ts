import { status } from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/test-database';
import { eventually, startTestServer, type TestServer } from '../../../test/support/test-server';
import { createTenantWithKey, storedEvents } from '../../../test/support/ingest-calls';
import { BufferFullError, IngestError, VaultClient, type RejectedEvent } from '../src';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function rowCount(db: TestDatabase, tenantId: string): Promise<number> {
  const result = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE tenant_id = $1', [tenantId]);
  return Number(result.rows[0]!.n);
}

describe('the Node.js client ingester', () => {
  let db: TestDatabase;
  let server: TestServer;
  const clients: VaultClient[] = [];

  const connect = (apiKey: string): VaultClient => {
    const client = new VaultClient({ address: server.address, apiKey });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await server.stop();
    await db.drop();
  });

  test('when events are added without ids and flushed, then each is stored once under a UUIDv7 and the counters add up', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'sdk-basic');
    const ingester = connect(key).ingester({ maxBatchEvents: 100, streamMaxEvents: 1000 });
    const ids: string[] = [];
    for (let i = 0; i < 5000; i++) ids.push(await ingester.add({ eventType: 'log', serviceName: `svc-${i % 3}`, payload: { i, big: 12345678901234 } }));
    await ingester.flush();
    expect(await rowCount(db, tenantId)).toBe(5000);
    expect(new Set(ids).size).toBe(5000);
    for (const id of ids) expect(id).toMatch(UUID_V7);
    // Made in one process, the ids sort in the order they were made.
    expect([...ids].sort()).toEqual(ids);
    expect(ingester.counters).toEqual({ accepted: 5000, duplicates: 0, rejected: 0, retried: 0, failed: 0, buffered: 0, bufferedBytes: 0 });
    const stored = await storedEvents(db.pool, tenantId);
    expect(stored.find((row) => row.event_id === ids[7])!.payload).toEqual({ i: 7, big: 12345678901234 });
    await ingester.close();
  });

  test('when an application adds in a loop of awaits, then add() lets the event loop turn once its event completes a message, and not before', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'sdk-turn');
    // A linger far longer than the test: only the full message makes a batch ready.
    const ingester = connect(key).ingester({ maxBatchEvents: 1000, lingerMs: 600_000 });
    let turned = false;
    setImmediate(() => (turned = true));
    const turns: boolean[] = [];
    try {
      for (let i = 0; i < 999; i++) await ingester.add({ eventId: `turn-${i}`, eventType: 'log', serviceName: 'api' });
      turns.push(turned);
      await ingester.add({ eventId: 'turn-999', eventType: 'log', serviceName: 'api' });
      turns.push(turned);
    } finally {
      await ingester.close();
    }
    // 999 events: no message complete, and the loop ran in microtasks alone; the 1000th completed
    // the message, and add() resolved only after a turn of the event loop.
    expect(turns).toEqual([false, true]);
    expect(await rowCount(db, tenantId)).toBe(1000);
    expect(ingester.counters.accepted).toBe(1000);
  });

  test('when invalid events are added, then each is reported through onRejected, counted, and never retried', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'sdk-rejected');
    const rejected: RejectedEvent[] = [];
    const ingester = connect(key).ingester({ onRejected: (event) => rejected.push(event) });
    await ingester.add({ eventId: 'good-1', eventType: 'log', serviceName: 'api' });
    await ingester.add({ eventId: 'bad-type', eventType: 'NOT A TYPE', serviceName: 'api' });
    await ingester.add({ eventId: 'bad-payload', eventType: 'log', serviceName: 'api', payloadJson: '[1,2]' });
    await ingester.add({ eventId: 'future', eventType: 'log', serviceName: 'api', timestamp: new Date(Date.now() + 3_600_000) });
    await ingester.add({ eventId: 'good-2', eventType: 'log', serviceName: 'api' });
    await ingester.flush();
    expect(rejected.map((event) => event.eventId).sort()).toEqual(['bad-payload', 'bad-type', 'future']);
    for (const event of rejected) expect(event.reason).not.toBe('');
    expect(rejected.find((event) => event.eventId === 'bad-payload')!.event.payloadJson).toBe('[1,2]');
    expect(ingester.counters).toMatchObject({ accepted: 2, rejected: 3, retried: 0, failed: 0, buffered: 0 });
    expect((await storedEvents(db.pool, tenantId)).map((row) => row.event_id)).toEqual(['good-1', 'good-2']);
    await ingester.close();
  });

  test('when the key is unknown, then the stream is not retried: its events are reported to onError and flush() rejects', async () => {
    const errors: IngestError[] = [];
    const ingester = connect('tv_not_a_real_key_000000000000000000').ingester({ onError: (error) => errors.push(error) });
    for (let i = 0; i < 10; i++) await ingester.add({ eventType: 'log', serviceName: 'api' });
    const flushed = await ingester.flush().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(flushed).toBeInstanceOf(IngestError);
    expect((flushed as IngestError).cause.code).toBe(status.UNAUTHENTICATED);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.events).toBe(10);
    expect(ingester.counters).toMatchObject({ accepted: 0, retried: 0, failed: 10, buffered: 0 });
    // The failure was reported once: the next flush has nothing to report.
    await expect(ingester.flush()).resolves.toBeUndefined();
    await ingester.close();
  });

  test('when flush() resolves, then every event added before it is stored; close() flushes the rest, ends, and later adds fail', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'sdk-flush');
    // A long linger and long streams: only flush() and close() make these go out promptly.
    const ingester = connect(key).ingester({ lingerMs: 60_000, streamMaxMs: 60_000, maxBatchEvents: 1000 });
    for (let i = 0; i < 250; i++) await ingester.add({ eventType: 'log', serviceName: 'api', payload: { i } });
    await ingester.flush();
    expect(await rowCount(db, tenantId)).toBe(250);
    await ingester.flush(); // nothing new: resolves
    for (let i = 0; i < 125; i++) await ingester.add({ eventType: 'log', serviceName: 'api', payload: { i } });
    const closing = ingester.close();
    expect(ingester.close()).toBe(closing);
    await expect(ingester.add({ eventType: 'log', serviceName: 'api' })).rejects.toBeInstanceOf(BufferFullError);
    await closing;
    expect(await rowCount(db, tenantId)).toBe(375);
    expect(ingester.counters).toMatchObject({ accepted: 375, buffered: 0 });
  });

  test('when messages would carry more events than the tenant burst, then the stream is cut to the burst from x-ratelimit-limit and every event is stored', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'sdk-burst', { eventBurst: 40, eventsPerSecond: 100_000 });
    const ingester = connect(key).ingester({ maxBatchEvents: 500, lingerMs: 50 });
    for (let i = 0; i < 300; i++) await ingester.add({ eventType: 'log', serviceName: 'api', payload: { i } });
    await ingester.flush();
    expect(await rowCount(db, tenantId)).toBe(300);
    expect(ingester.counters).toMatchObject({ accepted: 300, rejected: 0, failed: 0, buffered: 0 });
    // The first stream's one message of 300 was refused whole (INVALID_ARGUMENT naming the burst) and resent cut to 40.
    expect(ingester.counters.retried).toBeGreaterThanOrEqual(1);
    await ingester.close();
  });

  test('when the tenant is limited to 2 000 events/s, then the ingester keeps to the limit with no rejected or failed event and a bounded buffer', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'sdk-throttled', { eventsPerSecond: 2000, eventBurst: 2000 });
    const ingester = connect(key).ingester({ bufferMaxEvents: 3000 });
    const total = 12_000;
    let maxBuffered = 0;
    const startedAt = Date.now();
    for (let i = 0; i < total; i++) {
      await ingester.add({ eventType: 'metric', serviceName: 'api', payload: { i } });
      maxBuffered = Math.max(maxBuffered, ingester.counters.buffered);
    }
    await ingester.flush();
    const seconds = (Date.now() - startedAt) / 1000;
    process.stdout.write(`SDK under a 2 000 events/s limit: ${total} events in ${seconds.toFixed(1)} s = ${Math.round(total / seconds)} events/s, ${ingester.counters.retried} stream retries, most buffered ${maxBuffered}\n`);
    expect(maxBuffered).toBeLessThanOrEqual(3000);
    expect(await rowCount(db, tenantId)).toBe(total);
    expect(ingester.counters).toMatchObject({ rejected: 0, failed: 0, buffered: 0 });
    expect(ingester.counters.accepted).toBe(total);
    await ingester.close();
  });

  test('when streams reach streamMaxEvents, then each is ended and acknowledged without any flush()', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'sdk-cycle-count');
    // streamMaxMs is an hour: only the event count can end these streams.
    const ingester = connect(key).ingester({ maxBatchEvents: 100, streamMaxEvents: 500, streamMaxMs: 3_600_000, lingerMs: 1, maxConcurrentStreams: 1 });
    for (let i = 0; i < 2000; i++) await ingester.add({ eventType: 'log', serviceName: 'api', payload: { i } });
    await eventually(() => expect(ingester.counters.accepted).toBe(2000), 30_000);
    expect(await rowCount(db, tenantId)).toBe(2000);
    await ingester.close();
  });

  test('when a stream has been open streamMaxMs, then it is ended and acknowledged without any flush()', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'sdk-cycle-time');
    const ingester = connect(key).ingester({ streamMaxEvents: 1_000_000, streamMaxMs: 300, lingerMs: 1 });
    for (let i = 0; i < 10; i++) await ingester.add({ eventType: 'log', serviceName: 'api', payload: { i } });
    await eventually(() => expect(ingester.counters.accepted).toBe(10), 30_000);
    expect(await rowCount(db, tenantId)).toBe(10);
    await ingester.close();
  });

  test('when the buffer bytes are full, then add() fails fast naming bufferMaxBytes, and an event larger than the whole buffer is refused at once', async () => {
    const { key } = await createTenantWithKey(db.pool, 'sdk-bytes');
    const ingester = connect(key).ingester({ bufferMaxEvents: 1_000_000, bufferMaxBytes: 20_000, lingerMs: 60_000, streamMaxMs: 60_000, whenFull: 'fail' });
    const padding = 'x'.repeat(1000);
    let added = 0;
    const fill = async (): Promise<void> => {
      for (;;) {
        await ingester.add({ eventType: 'log', serviceName: 'api', payload: { padding } });
        added++;
      }
    };
    await expect(fill()).rejects.toThrow(/bufferMaxBytes 20000/);
    expect(added).toBeGreaterThan(10);
    expect(ingester.counters.bufferedBytes).toBeLessThanOrEqual(20_000);
    expect(ingester.counters.buffered).toBe(added);
    await expect(ingester.add({ eventType: 'log', serviceName: 'api', payload: { padding: 'x'.repeat(30_000) } })).rejects.toThrow(/more than bufferMaxBytes \(20000\)/);
    await ingester.close();
    expect(ingester.counters).toMatchObject({ accepted: added, buffered: 0, bufferedBytes: 0 });
  });

  test('when whenFull is fail and the buffer is full, then add() throws BufferFullError naming the bounds', async () => {
    const { key } = await createTenantWithKey(db.pool, 'sdk-failfast');
    const ingester = connect(key).ingester({ bufferMaxEvents: 10, lingerMs: 60_000, streamMaxMs: 60_000, whenFull: 'fail' });
    for (let i = 0; i < 10; i++) await ingester.add({ eventType: 'log', serviceName: 'api' });
    await expect(ingester.add({ eventType: 'log', serviceName: 'api' })).rejects.toThrow(/bufferMaxEvents 10/);
    await ingester.close();
    expect(ingester.counters).toMatchObject({ accepted: 10, buffered: 0 });
  });
});
