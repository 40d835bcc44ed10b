import { createTestDatabase, type TestDatabase } from '../../../test/support/test-database';
import { ServerProcess } from '../../../test/support/server-process';
import { eventually } from '../../../test/support/test-server';
import { createTenantWithKey } from '../../../test/support/ingest-calls';
import { VaultClient } from '../src';

/** The vault as a child process (dist/, built by `npm test`'s pretest), so that it can be killed and stopped. */
describe('the Node.js client ingester against a server that dies or stops answering', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  const servers: ServerProcess[] = [];

  const start = (extra: Record<string, string> = {}): ServerProcess => {
    const server = new ServerProcess({ ...env, ...extra });
    servers.push(server);
    return server;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    env = { DATABASE_URL: db.url, GRPC_PORT: '0', HTTP_PORT: '0', GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', SHUTDOWN_GRACE_PERIOD: '1s' };
  });

  afterAll(async () => {
    for (const server of servers) {
      server.signal('SIGCONT');
      server.signal('SIGKILL');
      await server.exited;
    }
    await db.drop();
  });

  test('when the server is SIGKILLed and restarted on the same data mid-way through 200 000 events, then every event is stored exactly once and the counters add up', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'sdk-restart', { eventsPerSecond: 10_000_000, eventBurst: 10_000_000, callsPerMinute: 100_000 });
    const first = start();
    const { grpcPort } = await first.serving();
    const client = new VaultClient({ address: `127.0.0.1:${grpcPort}`, apiKey: key });
    const ingester = client.ingester({ initialBackoffMs: 50, maxBackoffMs: 500 });
    const total = 200_000;
    let restarted: Promise<void> | undefined;
    let acceptedBeforeKill = 0;
    const startedAt = Date.now();
    for (let i = 0; i < total; i++) {
      await ingester.add({ eventId: `restart-${i}`, eventType: 'log', serviceName: `svc-${i % 7}`, payload: { i } });
      if (i === total / 2) {
        acceptedBeforeKill = ingester.counters.accepted;
        first.signal('SIGKILL');
        restarted = first.exited.then(async () => {
          await start({ GRPC_PORT: String(grpcPort) }).serving();
        });
      }
    }
    await ingester.close();
    await restarted;
    client.close();
    const seconds = (Date.now() - startedAt) / 1000;
    const rows = await db.pool.query<{ n: string; distinct_ids: string }>('SELECT count(*) AS n, count(DISTINCT event_id) AS distinct_ids FROM events WHERE tenant_id = $1', [tenantId]);
    const counters = ingester.counters;
    process.stdout.write(`SDK through a SIGKILL and restart: ${total} events in ${seconds.toFixed(1)} s (${Math.round(total / seconds)} events/s), accepted before the kill ${acceptedBeforeKill}, counters ${JSON.stringify(counters)}\n`);
    expect(Number(rows.rows[0]!.n)).toBe(total);
    expect(Number(rows.rows[0]!.distinct_ids)).toBe(total);
    // Every stream is counted once, by its acknowledged attempt: what an earlier attempt stored shows as duplicates.
    expect(counters.accepted + counters.duplicates).toBe(total);
    expect(counters).toMatchObject({ rejected: 0, failed: 0, buffered: 0, bufferedBytes: 0 });
    expect(counters.retried).toBeGreaterThan(0);
    expect(acceptedBeforeKill).toBeLessThan(total);
  }, 300_000);

  test('when the server stops answering (SIGSTOP), then add() blocks once the buffer is full, memory stays bounded, and everything is stored once it answers again', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'sdk-stopped');
    const server = start();
    const { grpcPort } = await server.serving();
    const client = new VaultClient({ address: `127.0.0.1:${grpcPort}`, apiKey: key });
    const bufferMaxEvents = 4000;
    const ingester = client.ingester({ bufferMaxEvents, bufferMaxBytes: 16 * 1024 * 1024 });
    await ingester.add({ eventType: 'log', serviceName: 'api' });
    await ingester.flush();

    server.signal('SIGSTOP');
    const padding = 'x'.repeat(1000);
    const rssBefore = process.memoryUsage().rss;
    const total = 20_000;
    let added = 0;
    const adding = (async () => {
      for (let i = 0; i < total; i++) {
        await ingester.add({ eventType: 'log', serviceName: 'api', payload: { i, padding } });
        added++;
      }
    })();
    await eventually(() => expect(ingester.counters.buffered).toBe(bufferMaxEvents), 30_000);
    const addedWhenFull = added;
    // Nothing can be acknowledged while the server is stopped, so no add() may complete past the bound.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(added).toBe(addedWhenFull);
    expect(added).toBe(bufferMaxEvents);
    expect(ingester.counters.buffered).toBe(bufferMaxEvents);
    const rssGrowthMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    process.stdout.write(`SDK against a stopped server: add() blocked at ${added} buffered events (${(ingester.counters.bufferedBytes / 1024 / 1024).toFixed(1)} MiB), RSS grew ${rssGrowthMb.toFixed(1)} MB\n`);
    expect(rssGrowthMb).toBeLessThan(200);

    server.signal('SIGCONT');
    await adding;
    await ingester.close();
    client.close();
    const rows = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE tenant_id = $1', [tenantId]);
    expect(Number(rows.rows[0]!.n)).toBe(total + 1);
    expect(ingester.counters).toMatchObject({ rejected: 0, failed: 0, buffered: 0 });
    expect(ingester.counters.accepted + ingester.counters.duplicates).toBe(total + 1);
  }, 120_000);
});
