import pg from 'pg';
import pino from 'pino';
import { RetentionPolicy } from '../../src/domain/retention/retention-policy';
import { ensureEventPartitions, listEventPartitions } from '../../src/storage/event-partitions';
import { pageQuery } from '../../src/storage/event-query-sql';
import { runRetentionRound } from '../../src/storage/retention-work';
import { MIGRATIONS_DIR, runMigrations } from '../../src/storage/run-migrations';
import { createTenantWithKey, ingestUnary, makeEvent } from '../support/ingest-calls';
import { scrapeMetrics } from '../support/prometheus-text';
import { queryEvents } from '../support/query-fixtures';
import { runCliCaptured } from '../support/run-cli-captured';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, withKey, type TestServer } from '../support/test-server';

const silent = pino({ level: 'silent' });
const HOUR_MS = 3_600_000;

function timestampOf(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

const retentionOptions = { batchRows: 2, pauseMs: 0, budgetMs: 30_000, statementTimeoutMs: 30_000 };

describe('migration 0004 on a populated database', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });

  afterAll(async () => {
    await db.drop();
  });

  test('when events holds 1M rows, then it becomes partitioned with every row, its keyset indexes and its per-partition uniqueness', async () => {
    const { runner } = await import('node-pg-migrate');
    await runner({ databaseUrl: db.url, dir: MIGRATIONS_DIR, direction: 'up', migrationsTable: 'pgmigrations', count: 3, singleTransaction: true, logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } });
    const tenant = await db.pool.query<{ id: string }>("INSERT INTO tenants (name) VALUES ('big') RETURNING id");
    await db.pool.query(
      `INSERT INTO events (tenant_id, event_id, "timestamp", event_type, service_name, payload)
       SELECT $1, 'e' || g, now() - (g || ' seconds')::interval, 'log', 'svc' || (g % 7), jsonb_build_object('n', g) FROM generate_series(1, 1000000) g`,
      [tenant.rows[0]!.id],
    );

    expect(await runMigrations(db.url, silent)).toContain('0004_partitioned-events');

    const kind = await db.pool.query<{ relkind: string }>("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass");
    expect(kind.rows[0]!.relkind).toBe('p');
    const count = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM events');
    expect(Number(count.rows[0]!.n)).toBe(1_000_000);
    const partitions = await listEventPartitions(db.pool);
    expect(partitions.map((partition) => [partition.name, partition.lowerMs])).toEqual([['events_before', undefined]]);
    const indexes = await db.pool.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE tablename = 'events_before' ORDER BY indexname");
    expect(indexes.rows.map((row) => row.indexdef).join('\n')).toContain('UNIQUE INDEX events_before_tenant_id_event_id_key ON public.events_before USING btree (tenant_id, event_id)');
    await expect(db.pool.query("INSERT INTO events (tenant_id, event_id, \"timestamp\", event_type, service_name) VALUES ($1, 'e1', now() - interval '1 day', 'log', 's')", [tenant.rows[0]!.id])).rejects.toMatchObject({ code: '23505' });
  }, 300_000);
});

describe('partitions', () => {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await db.drop();
  });

  test('when two instances create partitions at the same moment, then each range is created once and they are contiguous', async () => {
    const other = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      const horizonMs = Date.now() + 30 * HOUR_MS;
      const options = { intervalMs: HOUR_MS, horizonMs, lockTimeoutMs: 30_000 };
      const [first, second] = await Promise.all([ensureEventPartitions(db.pool, options), ensureEventPartitions(other, options)]);
      const created = [...first, ...second];
      expect(new Set(created).size).toBe(created.length);
      const partitions = await listEventPartitions(db.pool);
      expect(partitions.length).toBe(created.length + 1);
      for (let i = 1; i < partitions.length; i++) expect(partitions[i]!.lowerMs).toBe(partitions[i - 1]!.upperMs);
      expect(partitions.at(-1)!.upperMs).toBeGreaterThanOrEqual(horizonMs);
      expect(await ensureEventPartitions(other, options)).toEqual([]);
    } finally {
      await other.end();
    }
  });

  test('when a page is bounded in time, then EXPLAIN shows it reads only the partitions of its range', async () => {
    const start = Math.ceil(Date.now() / HOUR_MS) * HOUR_MS + 48 * HOUR_MS;
    await ensureEventPartitions(db.pool, { intervalMs: HOUR_MS, horizonMs: start + 10 * HOUR_MS, lockTimeoutMs: 30_000 });
    const query = pageQuery(
      {
        tenantId: '00000000-0000-0000-0000-000000000001',
        filter: { startUs: BigInt(start + 2 * HOUR_MS) * 1000n, endUs: BigInt(start + 4 * HOUR_MS) * 1000n, eventTypes: [], serviceNames: [], payloadContains: undefined },
        order: 'newest-first',
        retentionCutoffUs: undefined,
      },
      { limit: 100, payloadAsJson: true, countTotal: false },
      65_536,
    );
    const plan = await db.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${query.text}`, query.values);
    const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n');
    const touched = [...new Set(text.match(/events_p\d{8}(_\d{4})?/g))].sort();
    const expected = [start + 2 * HOUR_MS, start + 3 * HOUR_MS].map((ms) => {
      const iso = new Date(ms).toISOString();
      const time = iso.slice(11, 16).replace(':', '');
      return `events_p${iso.slice(0, 10).replaceAll('-', '')}${time === '0000' ? '' : `_${time}`}`;
    });
    expect(touched).toEqual(expected.sort());
    expect(text).not.toContain('events_before');
  });

  test('when partitions are past every retention, then they are detached and dropped, and events_before stays', async () => {
    // 30 hours: past the next UTC midnight, which events_before reaches (migration 0004), at any hour of the day.
    await ensureEventPartitions(db.pool, { intervalMs: HOUR_MS, horizonMs: Date.now() + 30 * HOUR_MS, lockTimeoutMs: 30_000 });
    const before = await listEventPartitions(db.pool);
    expect(before.length).toBeGreaterThan(1);
    const round = await runRetentionRound(db.pool, [], Date.now() + 100 * HOUR_MS, retentionOptions);
    expect(round!.droppedPartitions.sort()).toEqual(before.filter((partition) => partition.lowerMs !== undefined).map((partition) => partition.name).sort());
    expect((await listEventPartitions(db.pool)).map((partition) => partition.name)).toEqual(['events_before']);
  });
});

describe('a vault with partitions and retention', () => {
  let db: TestDatabase;
  let server: TestServer;
  /** Before start-up: the partitions made at start-up reach at least this far plus their horizon. */
  let serverStartedMs = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    // A future skew of 2 days: events_before holds everything up to the next UTC midnight (migration 0004), the
    // hourly partitions start there, and the exactly-once edge needs two of them.
    serverStartedMs = Date.now();
    server = await startTestServer(db.url, { EVENTS_PARTITION_INTERVAL: '1h', DATA_LIFECYCLE_INTERVAL: '1h', AUTH_CACHE_TTL: '0', INGEST_MAX_FUTURE_SKEW: '2d' });
  });

  afterAll(async () => {
    await server?.stop();
    await db.drop();
  });

  test('when the vault starts, then partitions cover the future skew limit and more', async () => {
    const partitions = await listEventPartitions(db.pool);
    expect(partitions.at(-1)!.upperMs).toBeGreaterThan(Date.now() + 48 * HOUR_MS + HOUR_MS);
  });

  test('when the vault starts, then partitions reach past the skew limit by EVENTS_PARTITIONS_AHEAD intervals and two lifecycle rounds, so that one failed round leaves no gap', async () => {
    // INGEST_MAX_FUTURE_SKEW 2d, EVENTS_PARTITIONS_AHEAD 2 (default) x 1h, DATA_LIFECYCLE_INTERVAL 1h: the next round
    // could fail and the one after (2h from start-up) must still find partitions covering its now + 2d.
    const partitions = await listEventPartitions(db.pool);
    expect(partitions.at(-1)!.upperMs).toBeGreaterThanOrEqual(serverStartedMs + 48 * HOUR_MS + 2 * HOUR_MS + 2 * HOUR_MS);
  });

  test('when events are far in the past or near the future skew limit, then they are stored', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'edges');
    const events = [makeEvent({ timestamp: timestampOf(Date.UTC(1990, 0, 1)) }), makeEvent({ timestamp: timestampOf(Date.now() + 48 * HOUR_MS - 60_000) }), makeEvent()];
    const result = await ingestUnary(server.ingest, withKey(key), { events });
    expect(result.response).toMatchObject({ accepted: 3, duplicates: 0, rejected: 0 });
    const stored = await db.pool.query('SELECT count(*)::int AS n FROM events WHERE tenant_id = $1', [tenantId]);
    expect(stored.rows[0].n).toBe(3);
  });

  test('when the same event_id comes with timestamps in two partitions, then both are stored; in one partition, the first wins', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'exactly-once');
    const base = Math.ceil(Date.now() / (24 * HOUR_MS)) * 24 * HOUR_MS + 3 * HOUR_MS;
    const first = await ingestUnary(server.ingest, withKey(key), { events: [makeEvent({ eventId: 'same', timestamp: timestampOf(base + 60_000) })] });
    expect(first.response).toMatchObject({ accepted: 1, duplicates: 0 });
    const samePartition = await ingestUnary(server.ingest, withKey(key), { events: [makeEvent({ eventId: 'same', timestamp: timestampOf(base + 120_000) })] });
    expect(samePartition.response).toMatchObject({ accepted: 0, duplicates: 1 });
    const retry = await ingestUnary(server.ingest, withKey(key), { events: [makeEvent({ eventId: 'same', timestamp: timestampOf(base + 60_000) })] });
    expect(retry.response).toMatchObject({ accepted: 0, duplicates: 1 });
    const otherPartition = await ingestUnary(server.ingest, withKey(key), { events: [makeEvent({ eventId: 'same', timestamp: timestampOf(base + HOUR_MS + 60_000) })] });
    expect(otherPartition.response).toMatchObject({ accepted: 1, duplicates: 0 });
    const stored = await db.pool.query<{ ts: Date }>('SELECT "timestamp" AS ts FROM events WHERE tenant_id = $1 ORDER BY 1', [tenantId]);
    expect(stored.rows.map((row) => row.ts.getTime())).toEqual([base + 60_000, base + HOUR_MS + 60_000]);
  });

  test('when an event is already past its tenant retention, then it is rejected with a reason that says so', async () => {
    const { key, admin } = await createTenantWithKey(db.pool, 'short-lived');
    await admin.updateTenant('short-lived', { retentionMs: HOUR_MS });
    const result = await ingestUnary(server.ingest, withKey(key), { events: [makeEvent({ timestamp: timestampOf(Date.now() - 2 * HOUR_MS) }), makeEvent()] });
    expect(result.response).toMatchObject({ accepted: 1, rejected: 1 });
    expect(result.response!.rejectedEvents[0]!.reason).toBe("timestamp is past this tenant's retention (1h): events older than that are not stored");
  });

  test('when a stored event passes its tenant retention, then queries stop returning it at once, and the retention work deletes it', async () => {
    const { key, tenantId, admin } = await createTenantWithKey(db.pool, 'shortened');
    const old = makeEvent({ eventId: 'old', timestamp: timestampOf(Date.now() - 3 * HOUR_MS) });
    const recent = makeEvent({ eventId: 'recent' });
    const extra = [1, 2, 3].map((n) => makeEvent({ eventId: `old-${n}`, timestamp: timestampOf(Date.now() - 4 * HOUR_MS - n * 1000) }));
    expect((await ingestUnary(server.ingest, withKey(key), { events: [old, recent, ...extra] })).response).toMatchObject({ accepted: 5 });
    expect((await queryEvents(server.query, key, {})).events.map((event) => event.eventId).sort()).toEqual(['old', 'old-1', 'old-2', 'old-3', 'recent']);

    await admin.updateTenant('shortened', { retentionMs: 2 * HOUR_MS });
    expect((await queryEvents(server.query, key, {})).events.map((event) => event.eventId)).toEqual(['recent']);
    const stillThere = await db.pool.query('SELECT count(*)::int AS n FROM events WHERE tenant_id = $1', [tenantId]);
    expect(stillThere.rows[0].n).toBe(5);

    const policy = new RetentionPolicy(undefined);
    const round = await runRetentionRound(db.pool, [{ tenantId, cutoffUs: policy.cutoffUs({ retentionMs: 2 * HOUR_MS }) }], undefined, retentionOptions);
    expect(round).toMatchObject({ deletedRows: 4, droppedPartitions: [], unfinished: false, overdueMs: 0 });
    const left = await db.pool.query<{ event_id: string }>('SELECT event_id FROM events WHERE tenant_id = $1', [tenantId]);
    expect(left.rows.map((row) => row.event_id)).toEqual(['recent']);
  });

  test('when metrics are scraped, then the partition count and the retention series are exposed', async () => {
    const metrics = await scrapeMetrics(server.httpUrl);
    expect(metrics.single('telemetry_vault_event_partitions')).toBe((await listEventPartitions(db.pool)).length);
    expect(metrics.types.get('telemetry_vault_retention_expired_rows_total')).toBe('counter');
    expect(metrics.labelValues('telemetry_vault_retention_expired_rows_total', 'how')).toEqual(['deleted', 'dropped']);
    expect(metrics.types.get('telemetry_vault_oldest_event_age_seconds')).toBe('gauge');
    expect(metrics.types.get('telemetry_vault_retention_overdue_seconds')).toBe('gauge');
  });
});

describe('tenant update', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db.drop();
  });

  test('when a tenant is created with --retention and updated, then its retention and limits change, and "default" clears them', async () => {
    const env = { DATABASE_URL: db.url };
    const created = await runCliCaptured(['tenant', 'create', 'acme', '--retention', '30d', '--json'], env);
    expect(created.code).toBe(0);
    expect(created.json()).toMatchObject({ name: 'acme', retention: '30d', callsPerMinute: null });

    const updated = await runCliCaptured(['tenant', 'update', 'acme', '--retention', '12h', '--calls-per-minute', '5', '--event-burst', '7', '--json'], env);
    expect(updated.code).toBe(0);
    expect(updated.json()).toMatchObject({ retention: '12h', callsPerMinute: 5, eventsPerSecond: null, eventBurst: 7 });

    const cleared = await runCliCaptured(['tenant', 'update', 'acme', '--retention', 'default', '--calls-per-minute', 'default', '--json'], env);
    expect(cleared.json()).toMatchObject({ retention: null, callsPerMinute: null, eventBurst: 7 });
  });

  test('when tenant update gets no change, a bad retention or an unknown tenant, then it fails saying why', async () => {
    const env = { DATABASE_URL: db.url };
    const nothing = await runCliCaptured(['tenant', 'update', 'acme'], env);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('tenant update needs at least one of --retention');
    const bad = await runCliCaptured(['tenant', 'update', 'acme', '--retention', 'soon'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--retention must be a duration');
    const unknown = await runCliCaptured(['tenant', 'update', 'nobody', '--retention', '1d'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no tenant named "nobody"');
  });
});
