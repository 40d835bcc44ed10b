import { status } from '@grpc/grpc-js';
import type pg from 'pg';
import { GroupBy, SortOrder } from '../../src/gen/telemetry/v1/query_service';
import type { EventSelection } from '../../src/domain/query/event-reader';
import { AGGREGATE_PLANNER } from '../../src/storage/event-query-repository';
import { aggregateQuery, pageQuery } from '../../src/storage/event-query-sql';
import { aggregate, createTenantWithKey, failureOf, queryEvents, streamEvents } from '../support/query-fixtures';
import { BASE_US, makeEvents, seedEvents } from '../support/seed-events';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { scrapeMetrics } from '../support/prometheus-text';
import { eventually, startTestServer, type TestServer } from '../support/test-server';

/** Runs `work` while another session holds an ACCESS EXCLUSIVE lock on events, so every read of it waits. */
async function whileEventsLocked<T>(pool: pg.Pool, work: () => Promise<T>): Promise<T> {
  const locker = await pool.connect();
  try {
    await locker.query('BEGIN');
    // With the rollups: Aggregate reads them, not events, when its request is aligned to whole minutes.
    await locker.query('LOCK TABLE events, event_rollups, event_rollup_deltas IN ACCESS EXCLUSIVE MODE');
    return await work();
  } finally {
    await locker.query('ROLLBACK');
    locker.release();
  }
}

describe('queries and the database: statement timeouts', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { QUERY_STATEMENT_TIMEOUT: '1s' });
    const tenant = await createTenantWithKey(db.pool, 'acme');
    key = tenant.key;
    await seedEvents(db.pool, tenant.tenantId, makeEvents(100));
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  test('when a query runs past the configured statement timeout, then QueryEvents, StreamEvents and Aggregate fail with DEADLINE_EXCEEDED', async () => {
    await whileEventsLocked(db.pool, async () => {
      expect((await failureOf(queryEvents(server.query, key, {}))).code).toBe(status.DEADLINE_EXCEEDED);
      expect((await failureOf(queryEvents(server.query, key, { page: 1 }))).code).toBe(status.DEADLINE_EXCEEDED);
      expect((await failureOf(streamEvents(server.query, key, {}))).code).toBe(status.DEADLINE_EXCEEDED);
      expect((await failureOf(aggregate(server.query, key, { groupBy: [GroupBy.GROUP_BY_EVENT_TYPE] }))).code).toBe(status.DEADLINE_EXCEEDED);
    });
    // The pooled connections work on.
    expect((await queryEvents(server.query, key, {})).events).toHaveLength(100);
    expect(server.vault.readPool.idleCount).toBe(server.vault.readPool.totalCount);
  });

  test('when reads with and without a nearer deadline have run, then every pooled connection carries no statement timeout or exactly the configured one', async () => {
    // Deadlines under the configured 1 s; whether those calls make it in time on a busy machine does not matter here.
    await Promise.allSettled([
      ...Array.from({ length: 4 }, () => queryEvents(server.query, key, {}, 800)),
      ...Array.from({ length: 2 }, () => aggregate(server.query, key, { groupBy: [GroupBy.GROUP_BY_EVENT_TYPE] }, 800)),
      queryEvents(server.query, key, { page: 2, limit: 10 }, 800),
    ]);
    await Promise.all(Array.from({ length: 4 }, () => queryEvents(server.query, key, {})));
    // Check out every pooled connection at once and read its session setting.
    const { readPool } = server.vault;
    const clients = await Promise.all(Array.from({ length: readPool.totalCount }, () => readPool.connect()));
    try {
      const timeouts = await Promise.all(clients.map(async (client) => (await client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!.statement_timeout));
      expect(timeouts.length).toBeGreaterThan(0);
      for (const timeout of timeouts) expect(['0', '1s']).toContain(timeout);
      // The short deadlines never stayed on a connection, and the plain reads set the configured timeout on theirs.
      expect(timeouts).toContain('1s');
    } finally {
      for (const client of clients) client.release();
    }
  });

  test("when the call's deadline is shorter than the statement timeout, then the deadline bounds the query", async () => {
    const relaxed = await startTestServer(db.url, { QUERY_STATEMENT_TIMEOUT: '10m' });
    try {
      await whileEventsLocked(db.pool, async () => {
        const error = await failureOf(queryEvents(relaxed.query, key, {}, 1000));
        expect(error.code).toBe(status.DEADLINE_EXCEEDED);
        // The server ended the call too (DEADLINE_EXCEEDED from its statement timeout or its own deadline timer, or
        // CANCELLED when the client's reset arrives first), and gave its connection back while the lock is still
        // held: the 10-minute statement timeout did not keep it.
        await eventually(() =>
          expect(relaxed.logs.records().some((record) => record.method === 'telemetry.v1.QueryService/QueryEvents' && ['DEADLINE_EXCEEDED', 'CANCELLED'].includes(String(record.code)))).toBe(true),
        );
        await eventually(() => expect(relaxed.vault.readPool.idleCount).toBe(relaxed.vault.readPool.totalCount));
        // And PostgreSQL is no longer running the query, though the lock it waited for is still held.
        await eventually(async () => expect((await db.pool.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM events%'")).rowCount).toBe(0), 30_000);
      });
    } finally {
      await relaxed.stop();
    }
  });
});

describe('queries and the database: reads that stop while they wait for a connection', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Reads may hold 1 connection (DB_POOL_MAX 5 less INGEST_WRITE_CONCURRENCY 4), and 2 reads may wait for it, for up to 20 s.
    server = await startTestServer(db.url, { DB_POOL_MAX: '5', INGEST_WRITE_CONCURRENCY: '4', DB_POOL_MAX_WAITING: '2', DB_POOL_CONNECTION_TIMEOUT: '20s', QUERY_STATEMENT_TIMEOUT: '10m' });
    const tenant = await createTenantWithKey(db.pool, 'acme');
    key = tenant.key;
    await seedEvents(db.pool, tenant.tenantId, makeEvents(10));
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const waitingReads = async (): Promise<number> => (await scrapeMetrics(server.httpUrl)).single('telemetry_vault_db_read_share_connections', { state: 'waiting' });

  test('when reads past their deadline were waiting for the reads\' share, then they leave its line at once and the next reads wait in their place instead of being refused', async () => {
    const { holder, next } = await whileEventsLocked(db.pool, async () => {
      // The share's one connection: a read blocked on the lock.
      const queried = queryEvents(server.query, key, {});
      await eventually(async () => expect((await scrapeMetrics(server.httpUrl)).single('telemetry_vault_db_read_share_connections', { state: 'in_use' })).toBe(1));
      // Two reads fill the line, and pass their deadlines in it (as clients that retry on a short deadline do).
      const stopped = await Promise.all([failureOf(queryEvents(server.query, key, {}, 300)), failureOf(queryEvents(server.query, key, {}, 300))]);
      expect(stopped.map((error) => error.code)).toEqual([status.DEADLINE_EXCEEDED, status.DEADLINE_EXCEEDED]);
      await eventually(async () => expect(await waitingReads()).toBe(0));
      // Their places are free: two more reads wait (rather than UNAVAILABLE naming DB_POOL_MAX_WAITING at once).
      const waiting = [queryEvents(server.query, key, {}), queryEvents(server.query, key, {})];
      await eventually(async () => expect(await waitingReads()).toBe(2));
      // A third is refused, the line being full of reads someone waits for.
      const refused = await failureOf(queryEvents(server.query, key, {}));
      expect(refused.code).toBe(status.UNAVAILABLE);
      expect(refused.details).toMatch(/2 reads wait for one \(DB_POOL_MAX_WAITING\)/);
      return { holder: queried, next: waiting };
    });
    // Once the lock is gone, the read that held the share and the two that waited are answered.
    for (const response of await Promise.all([holder, ...next])) expect(response.events).toHaveLength(10);
  });
});

describe('queries and the database: plans', () => {
  let db: TestDatabase;
  let tenantId: string;
  const SPAN_SECONDS = Math.floor(25_000 / 3);

  beforeAll(async () => {
    db = await createTestDatabase();
    // Four tenants of 25 000 events: the table is big enough for the planner to prefer a sequential scan if the SQL let it.
    for (const name of ['acme', 'beta', 'gamma', 'delta']) {
      const tenant = await createTenantWithKey(db.pool, name);
      tenantId ??= tenant.tenantId;
      await seedEvents(db.pool, tenant.tenantId, makeEvents(25_000, name));
    }
    await db.pool.query('ANALYZE events');
  });

  afterAll(async () => {
    await db?.drop();
  });

  interface PlanNode {
    'Node Type': string;
    Strategy?: string;
    'Index Name'?: string;
    'Actual Rows'?: number;
    'Actual Loops'?: number;
    'Parent Relationship'?: string;
    Plans?: PlanNode[];
  }
  const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];

  /** The plan of the page `depth` seconds of events into the walk (three events a second), in the selection's order. */
  async function plan(selection: EventSelection, depth: number): Promise<PlanNode[]> {
    const secondsIn = selection.order === 'oldest-first' ? depth : SPAN_SECONDS - depth;
    const query = pageQuery(selection, { after: { timestampUs: BASE_US + BigInt(secondsIn) * 1_000_000n, eventId: 'zzz' }, limit: 101, payloadAsJson: false, countTotal: false }, 4 * 1024 * 1024);
    const result = await db.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${query.text}`, query.values);
    return nodes(result.rows[0]!['QUERY PLAN'][0].Plan);
  }

  test('when a page is read, then its payloads are rendered after its rows are chosen (above the LIMIT), so that a plan that sorts the matches never renders more than the page', async () => {
    const filter = { startUs: undefined, endUs: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined };
    for (const maxBytes of [undefined, 4 * 1024 * 1024]) {
      const query = pageQuery({ tenantId, filter, order: 'newest-first' }, { after: undefined, limit: 101, payloadAsJson: false, countTotal: false, maxBytes }, 4 * 1024 * 1024);
      const result = await db.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${query.text}`, query.values);
      const steps = nodes(result.rows[0]!['QUERY PLAN'][0].Plan);
      // The lateral rendering (a Result, once per row) joins the LIMIT's output: whatever the scan below (an index
      // scan here; a sort of every match for a small tenant, where 1500 events of 60 KB were once 93 MB sorted on disk).
      const join = steps.find((node) => node['Node Type'] === 'Nested Loop' && node.Plans?.[1]?.['Node Type'] === 'Result');
      expect(join?.Plans?.[0]?.['Node Type']).toBe('Limit');
      expect(join?.Plans?.[1]?.['Actual Loops']).toBe(101);
      expect(steps.filter((node) => node['Node Type'] === 'Limit').flatMap(nodes).some((node) => node['Node Type'] === 'Result')).toBe(false);
    }
  });

  // The events are older than the migration, so they are in the partition events_before (migration 0004), whose
  // indexes are the keyset indexes of events under its own names.
  const filters: [string, EventSelection['filter'], string][] = [
    ['no filter', { startUs: undefined, endUs: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined }, 'events_before_tenant_time_idx'],
    ['one event type', { startUs: undefined, endUs: undefined, eventTypes: ['log'], serviceNames: [], payloadContains: undefined }, 'events_before_tenant_type_time_idx'],
    ['one service', { startUs: undefined, endUs: undefined, eventTypes: [], serviceNames: ['search'], payloadContains: undefined }, 'events_before_tenant_service_time_idx'],
  ];

  test.each(filters.flatMap(([name, filter, index]) => (['newest-first', 'oldest-first'] as const).map((order) => [name, order, index, filter] as const)))(
    'when the cursor query with %s runs %s at any depth, then it is an index scan of %s that reads one page, with no sequential scan and no sort',
    async (_name, order, index, filter) => {
      for (const depth of [100, 2500, 5000]) {
        const steps = await plan({ tenantId, filter, order }, depth);
        const types = steps.map((node) => node['Node Type']);
        expect(types).not.toContain('Seq Scan');
        expect(types).not.toContain('Sort');
        const scan = steps.find((node) => node['Node Type'] === 'Index Scan' || node['Node Type'] === 'Index Only Scan');
        expect(scan?.['Index Name']).toBe(index);
        // The scan starts at the cursor: it reads the page (and the one extra row), never the rows before it.
        expect(scan?.['Actual Rows']).toBe(101);
      }
    },
  );

  test('when Aggregate groups by type, service and a time bucket, then the groups are hashed and no row is sorted in the database', async () => {
    const query = aggregateQuery(
      { tenantId, filter: { startUs: undefined, endUs: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined } },
      { bucketUs: 3_600_000_000n, byEventType: true, byServiceName: true },
      10_001,
    );
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      // On 1M events the planner's estimate (a group per row) outgrows work_mem and, left alone, it sorts every
      // row; 25 000 rows need a smaller work_mem to meet the same choice.
      await client.query("SET LOCAL work_mem = '64kB'");
      for (const [name, value] of Object.entries(AGGREGATE_PLANNER)) await client.query(`SET LOCAL ${name} = ${value}`);
      const result = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${query.text}`, query.values);
      const steps = nodes(result.rows[0]!['QUERY PLAN'][0].Plan);
      const aggregate = steps.find((node) => node['Node Type'] === 'Aggregate');
      expect(aggregate).toMatchObject({ Strategy: 'Hashed' });
      expect(steps.map((node) => node['Node Type'])).not.toContain('Sort');
      expect(steps.map((node) => node['Node Type'])).not.toContain('Incremental Sort');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });
});

describe('queries and the database: read replica', () => {
  let primary: TestDatabase;
  let replica: TestDatabase;
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    primary = await createTestDatabase();
    // A second database stands in for the replica: what only it holds can only have been read from it.
    replica = await createTestDatabase();
    server = await startTestServer(primary.url, { DATABASE_READ_URL: replica.url });
    const tenant = await createTenantWithKey(primary.pool, 'acme');
    key = tenant.key;
    await seedEvents(primary.pool, tenant.tenantId, makeEvents(5, 'on-primary'));
    await seedEvents(replica.pool, tenant.tenantId, makeEvents(7, 'on-replica'));
  });

  afterAll(async () => {
    await server?.stop();
    await replica?.drop();
    await primary?.drop();
  });

  test('when DATABASE_READ_URL is set, then QueryEvents, StreamEvents and Aggregate read from it, on a pool of its own', async () => {
    expect(server.vault.readPool).not.toBe(server.vault.pool);
    const page = await queryEvents(server.query, key, { order: SortOrder.SORT_ORDER_OLDEST_FIRST });
    expect(page.events).toHaveLength(7);
    expect(page.events.every((event) => event.eventId.startsWith('on-replica'))).toBe(true);
    const paged = await queryEvents(server.query, key, { page: 1 });
    expect(paged.totalCount).toBe(7);
    const streamed = (await streamEvents(server.query, key, {})).flatMap((message) => message.events);
    expect(streamed.every((event) => event.eventId.startsWith('on-replica'))).toBe(true);
    expect((await aggregate(server.query, key, {})).rows[0]!.count).toBe(7);
  });
});
