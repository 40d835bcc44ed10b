import { status } from '@grpc/grpc-js';
import { useRestartableVault } from '../../../test/support/restartable-vault';
import { createTenantWithKey } from '../../../test/support/ingest-calls';
import { CloseTimeoutError, VaultClient, type QueryRetry, type VaultEvent } from '../src';

/**
 * The client while the vault's PostgreSQL is down: the vault answers
 * UNAVAILABLE (with RetryInfo) until the database is back. Each query test
 * stops the database mid-walk and starts it again from the client's first
 * retry (onRetry), so the walk can only finish by retrying.
 */
describe('the Node.js client while the vault database is down', () => {
  // Small stream chunks: the server reads the database again every 50 events, so a stream mid-way needs it.
  const vault = useRestartableVault('tv-sdk-outage-', { AUTH_CACHE_TTL: '5s', DB_POOL_CONNECTION_TIMEOUT: '1s', QUERY_STREAM_CHUNK_SIZE: '50' });
  const total = 6000;
  const base = Date.now() - 3_600_000;
  let key: string;
  let client: VaultClient;
  const retries: QueryRetry[] = [];
  let restarting: Promise<void> | undefined;

  /** Stops the database; the next client retry starts it again. */
  async function stopDatabase(): Promise<void> {
    await vault().cluster.stop('immediate');
    restarting = undefined;
  }

  beforeAll(async () => {
    ({ key } = await createTenantWithKey(vault().pool, 'sdk-outage', { eventsPerSecond: 1_000_000, eventBurst: 1_000_000, callsPerMinute: 100_000 }));
    client = new VaultClient({
      address: vault().server.address,
      apiKey: key,
      queryRetry: {
        maxAttempts: 30,
        initialBackoffMs: 50,
        maxBackoffMs: 1000,
        onRetry: (retry) => {
          retries.push(retry);
          restarting ??= vault().cluster.start();
        },
      },
    });
    const ingester = client.ingester();
    // Four events share each millisecond, so that a resumed stream starts inside a group of equal timestamps.
    for (let i = 0; i < total; i++) {
      await ingester.add({ eventId: `o-${String(i).padStart(5, '0')}`, timestamp: new Date(base + Math.floor(i / 4)), eventType: 'log', serviceName: `svc-${i % 3}`, payload: { i } });
    }
    await ingester.close();
  }, 120_000);

  afterEach(async () => {
    await restarting;
    retries.length = 0;
  });

  afterAll(() => client.close());

  test('when the database stops between two pages, then pages() retries the page with the same cursor and walks every event once', async () => {
    const ids: string[] = [];
    let pages = 0;
    for await (const page of client.pages({}, { order: 'oldest-first', limit: 500 })) {
      if (pages++ === 2) await stopDatabase();
      for (const event of page.events) ids.push(event.eventId);
    }
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((retry) => retry.method === 'QueryEvents' && retry.error.code === status.UNAVAILABLE)).toBe(true);
    expect(pages).toBe(total / 500);
    expect(ids).toEqual(Array.from({ length: total }, (_, i) => `o-${String(i).padStart(5, '0')}`));
  });

  test.each(['oldest-first', 'newest-first'] as const)('when the database stops mid-stream, then events() (%s) resumes after the last event it yielded: none repeated, none lost', async (order) => {
    const seen: VaultEvent[] = [];
    for await (const event of client.events({ serviceNames: ['svc-0', 'svc-1', 'svc-2'] }, order)) {
      // Stopped on an event in the middle of a millisecond's group (i % 4 == 1 or 2): the resumed stream's seam.
      if (seen.length === 1001) await stopDatabase();
      seen.push(event);
    }
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((retry) => retry.method === 'StreamEvents')).toBe(true);
    const expected = Array.from({ length: total }, (_, i) => `o-${String(i).padStart(5, '0')}`);
    expect(seen.map((event) => event.eventId)).toEqual(order === 'oldest-first' ? expected : [...expected].reverse());
  });

  test('when the database stops mid-stream with max_events, then events() stops at exactly max_events across the retry', async () => {
    const seen: string[] = [];
    for await (const event of client.events({}, 'oldest-first', { maxEvents: 2002 })) {
      if (seen.length === 999) await stopDatabase();
      seen.push(event.eventId);
    }
    expect(retries.length).toBeGreaterThan(0);
    expect(seen).toEqual(Array.from({ length: 2002 }, (_, i) => `o-${String(i).padStart(5, '0')}`));
  });

  test('when the database is down, then aggregate() retries until it is back and counts every event', async () => {
    await stopDatabase();
    const rows = await client.aggregate({}, { groupBy: ['service_name'] });
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((retry) => retry.method === 'Aggregate' && retry.error.code === status.UNAVAILABLE)).toBe(true);
    expect(rows.reduce((sum, row) => sum + row.count, 0)).toBe(total);
  });

  test('when a query fails with INVALID_ARGUMENT or UNAUTHENTICATED, then it is never retried', async () => {
    const pages = client.pages({}, { cursor: 'not-a-cursor' });
    await expect(pages.next()).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(client.aggregate({ start: new Date(base + 1000), end: new Date(base) })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    const stranger = new VaultClient({ address: vault().server.address, apiKey: 'tv_not_a_real_key_000000000000000000', queryRetry: { onRetry: (retry) => retries.push(retry) } });
    try {
      await expect(stranger.aggregate()).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      await expect(stranger.events().next()).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    } finally {
      stranger.close();
    }
    expect(retries).toEqual([]);
  });

  test('when close() cannot get its events acknowledged within closeTimeoutMs, then it rejects with every unacknowledged event, drops none silently, and ends its calls', async () => {
    const own = new VaultClient({ address: vault().server.address, apiKey: key });
    const ingester = own.ingester({ closeTimeoutMs: 1500, initialBackoffMs: 50, maxBackoffMs: 200 });
    await stopDatabase();
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) ids.push(await ingester.add({ eventType: 'log', serviceName: 'api', payload: { i } }));
    const closed = await ingester.close().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(closed).toBeInstanceOf(CloseTimeoutError);
    expect((closed as CloseTimeoutError).unacknowledged.map((event) => event.eventId)).toEqual(ids);
    expect((closed as CloseTimeoutError).message).toMatch(/closeTimeoutMs \(1500 ms\): 300 events/);
    expect(ingester.counters).toMatchObject({ accepted: 0, failed: 300, buffered: 0, bufferedBytes: 0 });
    expect(ingester.counters.retried).toBeGreaterThan(0);
    // Its lanes have ended (close() settles after them): nothing of the ingester holds the channel, which closes at once.
    own.close();
    restarting = vault().cluster.start();
  });
});
