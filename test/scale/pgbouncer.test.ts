/**
 * The vault behind a real PgBouncer in transaction mode (issue 17, "the
 * connection budget"): DATABASE_TRANSACTION_POOLING makes the session
 * features survive it (the ingest staging table is created in each
 * transaction, reads set their timeout with SET LOCAL), and migrations use
 * DATABASE_DIRECT_URL. PgBouncer gets fewer server connections than the
 * vault has clients, so consecutive transactions of one vault connection
 * land on different server sessions.
 */
import pg from 'pg';
import { VaultClient } from '../../clients/node/src';
import { createTenantWithKey } from '../support/ingest-calls';
import { ServerProcess } from '../support/server-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { pgbouncerUnavailableReason, startPgBouncer, type PgBouncer } from './support/pgbouncer';
import { LOCAL_SERVE_ENV } from './support/processes';

const skipReason = pgbouncerUnavailableReason();
if (skipReason) console.log(`skipping the PgBouncer drill: ${skipReason}`);
const describeDrill = skipReason ? describe.skip : describe;

const EVENTS = 6000;

describeDrill('the vault through PgBouncer in transaction mode', () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  let server: ServerProcess;
  let client: VaultClient;
  let tenant: { key: string; tenantId: string };

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    bouncer = await startPgBouncer(db.url, { poolMode: 'transaction', poolSize: 3 });
    server = new ServerProcess({
      ...LOCAL_SERVE_ENV,
      DATABASE_URL: bouncer.url,
      DATABASE_DIRECT_URL: db.url,
      DATABASE_TRANSACTION_POOLING: 'true',
      DB_POOL_MAX: '10',
      INGEST_WRITE_CONCURRENCY: '6',
    });
    const { grpcPort } = await server.serving();
    tenant = await createTenantWithKey(db.pool, 'pooled', { eventsPerSecond: 1_000_000, eventBurst: 10_000, callsPerMinute: 1_000_000 });
    client = new VaultClient({ address: `127.0.0.1:${grpcPort}`, apiKey: tenant.key });
  });

  afterAll(async () => {
    client?.close();
    server?.signal('SIGTERM');
    await server?.exited;
    await bouncer?.stop();
    await db?.drop();
  });

  test('migrations ran over DATABASE_DIRECT_URL; ingest with 8 concurrent streams through PgBouncer stores every event once, and queries read them back', async () => {
    const ingester = client.ingester({ maxConcurrentStreams: 8, maxBatchEvents: 100, streamMaxMs: 200 });
    for (let i = 0; i < EVENTS; i++) await ingester.add({ eventId: `pooled-${i}`, eventType: i % 2 === 0 ? 'log' : 'metric', serviceName: 'pgbouncer', payload: { i } });
    await ingester.close();
    expect(ingester.counters).toMatchObject({ accepted: EVENTS, failed: 0, rejected: 0 });
    const stored = await db.pool.query<{ rows: number; distinct: number }>('SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS distinct FROM events WHERE tenant_id = $1', [tenant.tenantId]);
    expect(stored.rows[0]).toEqual({ rows: EVENTS, distinct: EVENTS });
    let paged = 0;
    for await (const page of client.pages({}, { limit: 1000 })) paged += page.events.length;
    expect(paged).toBe(EVENTS);
    let streamed = 0;
    for await (const event of client.events({ eventTypes: ['log'] })) if (event.serviceName === 'pgbouncer') streamed++;
    expect(streamed).toBe(EVENTS / 2);
    const counts = await client.aggregate({}, { groupBy: ['event_type'] });
    expect(counts.map((row) => row.count).reduce((sum, count) => sum + count, 0)).toBe(EVENTS);
  });

  test('nothing stays on a pooled server session: no staging table outlives its transaction and no statement_timeout is left set', async () => {
    const through = new pg.Client({ connectionString: bouncer.url });
    await through.connect();
    try {
      for (let i = 0; i < 6; i++) {
        expect((await through.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!.statement_timeout).toBe('0');
        expect((await through.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'ingest_staging'")).rows[0]!.n).toBe(0);
      }
    } finally {
      await through.end();
    }
  });
});
