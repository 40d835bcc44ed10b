import { createTestDatabase, type TestDatabase } from '../../../test/support/test-database';
import { startTestServer, type TestServer } from '../../../test/support/test-server';
import { createTenantWithKey } from '../../../test/support/ingest-calls';
import { VaultClient, type VaultEvent } from '../src';

/** Ascending (timestamp, event_id), the contract's keyset order. */
function compareKey(a: VaultEvent, b: VaultEvent): number {
  return a.timestamp.getTime() - b.timestamp.getTime() || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0);
}

describe('the Node.js client queries', () => {
  let db: TestDatabase;
  let server: TestServer;
  let client: VaultClient;
  const total = 50_000;
  const base = Date.now() - 3_600_000;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
    const { key } = await createTenantWithKey(db.pool, 'sdk-query', { eventsPerSecond: 1_000_000, eventBurst: 1_000_000 });
    client = new VaultClient({ address: server.address, apiKey: key });
    const ingester = client.ingester();
    // Many events share a millisecond, so that event_id breaks the ties of the keyset.
    for (let i = 0; i < total; i++) {
      await ingester.add({ eventId: `q-${String(i).padStart(6, '0')}`, timestamp: new Date(base + Math.floor(i / 3)), eventType: i % 2 ? 'metric' : 'log', serviceName: `svc-${i % 5}`, payload: { i, exact: '12345678901234567890' } });
    }
    await ingester.close();
  }, 120_000);

  afterAll(async () => {
    client.close();
    await server.stop();
    await db.drop();
  });

  test.each(['oldest-first', 'newest-first'] as const)('when events() walks all 50 000 events %s over StreamEvents, then each comes once, in order, as plain objects', async (order) => {
    const seen: VaultEvent[] = [];
    for await (const event of client.events({}, order)) seen.push(event);
    expect(seen).toHaveLength(total);
    expect(new Set(seen.map((event) => event.eventId)).size).toBe(total);
    const sorted = [...seen].sort(order === 'oldest-first' ? compareKey : (a, b) => compareKey(b, a));
    expect(seen.map((event) => event.eventId)).toEqual(sorted.map((event) => event.eventId));
    const first = seen.find((event) => event.eventId === 'q-000004')!;
    expect(first.timestamp).toEqual(new Date(base + 1));
    expect(first.payload).toEqual({ i: 4, exact: '12345678901234567890' });
    expect(first.receivedAt).toBeInstanceOf(Date);
  });

  test.each(['oldest-first', 'newest-first'] as const)('when pages() walks all 50 000 events %s by cursor, then no event is skipped or repeated and the order holds across pages', async (order) => {
    const ids: string[] = [];
    let pages = 0;
    let last: VaultEvent | undefined;
    for await (const page of client.pages({}, { order, limit: 1000 })) {
      pages++;
      for (const event of page.events) {
        if (last) expect(order === 'oldest-first' ? compareKey(last, event) : compareKey(event, last)).toBeLessThan(0);
        last = event;
        ids.push(event.eventId);
      }
    }
    expect(pages).toBe(total / 1000);
    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);
  });

  test('when events() is given a filter and max_events, and is left early, then it yields only matches and stops', async () => {
    const matched: VaultEvent[] = [];
    for await (const event of client.events({ serviceNames: ['svc-1'], eventTypes: ['metric'], payloadContains: { i: 11 } }, 'oldest-first')) matched.push(event);
    expect(matched.map((event) => event.eventId)).toEqual(['q-000011']);
    const limited: VaultEvent[] = [];
    for await (const event of client.events({ eventTypes: ['log'] }, 'oldest-first', { maxEvents: 5 })) limited.push(event);
    expect(limited.map((event) => event.eventId)).toEqual(['q-000000', 'q-000002', 'q-000004', 'q-000006', 'q-000008']);
    let taken = 0;
    for await (const event of client.events()) {
      expect(event.eventId).toMatch(/^q-/);
      if (++taken === 3) break;
    }
    expect(taken).toBe(3);
  });

  test('when aggregate() groups by event_type and service_name, then the rows count every event', async () => {
    const rows = await client.aggregate({}, { groupBy: ['event_type'] });
    expect(rows.map((row) => [row.eventType, row.count]).sort()).toEqual([
      ['log', total / 2],
      ['metric', total / 2],
    ]);
    const byService = await client.aggregate({ eventTypes: ['log'] }, { groupBy: ['service_name'] });
    expect(byService.reduce((sum, row) => sum + row.count, 0)).toBe(total / 2);
    expect(byService).toHaveLength(5);
    const bucketed = await client.aggregate({}, { bucketMs: 3_600_000 });
    expect(bucketed.reduce((sum, row) => sum + row.count, 0)).toBe(total);
    for (const row of bucketed) expect(row.bucketStart!.getTime() % 3_600_000).toBe(0);
  });
});
