import { createTestDatabase, type TestDatabase } from '../../../test/support/test-database';
import { startTestServer, type TestServer } from '../../../test/support/test-server';
import { createTenantWithKey, storedEvents } from '../../../test/support/ingest-calls';
import { VaultClient, type RejectedEvent } from '../src';

/**
 * RESOURCE_EXHAUSTED without RetryInfo, from the vault itself: a server whose
 * GRPC_MAX_RECEIVE_MESSAGE_SIZE (64 KiB here) is far below the ingester's
 * maxBatchBytes (1 MiB by default) refuses the ingester's first messages.
 */
describe('the Node.js client ingester against a server with a small message limit', () => {
  let db: TestDatabase;
  let server: TestServer;
  let client: VaultClient;
  let tenantId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { GRPC_MAX_RECEIVE_MESSAGE_SIZE: '64KiB' });
    const tenant = await createTenantWithKey(db.pool, 'sdk-size', { eventsPerSecond: 1_000_000, eventBurst: 1_000_000 });
    tenantId = tenant.tenantId;
    client = new VaultClient({ address: server.address, apiKey: tenant.key });
  });

  afterAll(async () => {
    client.close();
    await server.stop();
    await db.drop();
  });

  test('when messages are over the server limit, then they are cut in halves down to single events, every event fitting alone is stored once, and one too large alone is rejected with the reason', async () => {
    const rejected: RejectedEvent[] = [];
    const ingester = client.ingester({ onRejected: (event) => rejected.push(event), lingerMs: 50 });
    const padding = 'p'.repeat(900);
    const total = 3000;
    for (let i = 0; i < total; i++) {
      await ingester.add({ eventId: `size-${i}`, eventType: 'log', serviceName: 'api', payload: { i, padding } });
      // One event of 100 KB: no message can carry it under a 64 KiB limit.
      if (i === 1234) await ingester.add({ eventId: 'too-large', eventType: 'log', serviceName: 'api', payload: { padding: 'x'.repeat(100_000) } });
    }
    await ingester.flush();
    const counters = ingester.counters;
    expect(rejected.map((event) => event.eventId)).toEqual(['too-large']);
    expect(rejected[0]!.reason).toMatch(/over the server's message limit: RESOURCE_EXHAUSTED/);
    expect(rejected[0]!.event.payloadJson).toHaveLength(100_000 + '{"padding":""}'.length);
    const stored = await storedEvents(db.pool, tenantId);
    expect(stored).toHaveLength(total);
    expect(new Set(stored.map((row) => row.event_id)).size).toBe(total);
    expect(counters).toMatchObject({ rejected: 1, failed: 0, buffered: 0, bufferedBytes: 0 });
    expect(counters.accepted + counters.duplicates).toBe(total);
    expect(counters.retried).toBeGreaterThan(0);
    // Later messages are kept under what the server took: no more than a few refusals per halving.
    process.stdout.write(`SDK against a 64 KiB message limit: ${JSON.stringify(counters)}\n`);
    await ingester.close();
  });
});
