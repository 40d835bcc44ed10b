import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Event } from '../../src/gen/telemetry/v1/event';
import type { IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
import { GroupBy, type AggregateResponse } from '../../src/gen/telemetry/v1/query_service';
import { OTHER_LABEL } from '../../src/observability/create-metrics';
import { createTenantWithKey, ingestStream, ingestUnary, makeEvent, type CallResult } from '../support/ingest-calls';
import { PrometheusText, scrapeMetrics } from '../support/prometheus-text';
import { aggregate, queryEvents, streamEvents } from '../support/query-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';

const INGEST = 'telemetry.v1.IngestService';
const QUERY = 'telemetry.v1.QueryService';
const POOL_MAX = 7;
/** Well-formed (so that it is looked up) but never issued. */
const UNKNOWN_KEY = `tv_${'A'.repeat(43)}`;

type CodeName = keyof typeof status;

/** The gRPC status of a finished call, and its response when it succeeded. */
async function outcomeOf<T>(promise: Promise<T>): Promise<{ code: CodeName; response: T | undefined }> {
  try {
    return { code: 'OK', response: await promise };
  } catch (error) {
    return { code: status[(error as ServiceError).code] as CodeName, response: undefined };
  }
}

function fromIngest(result: CallResult<IngestResponse>): { code: CodeName; response: IngestResponse | undefined } {
  return { code: result.error ? (status[result.error.code] as CodeName) : 'OK', response: result.response };
}

function bearer(key: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${key}`);
  return metadata;
}

function events(count: number, fields: Partial<Event>): Event[] {
  return Array.from({ length: count }, () => makeEvent(fields));
}

/** The delta of every sample of `name` between two scrapes, keyed by its labels (as JSON, sorted). */
function deltas(before: PrometheusText, after: PrometheusText, name: string): Record<string, number> {
  const key = (labels: Readonly<Record<string, string>>) => JSON.stringify(Object.fromEntries(Object.entries(labels).sort()));
  const result: Record<string, number> = {};
  for (const sample of after.matching(name)) {
    const moved = sample.value - before.value(name, sample.labels);
    if (moved !== 0) result[key(sample.labels)] = moved;
  }
  return result;
}

describe('metrics', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  describe('when real traffic has gone through a server', () => {
    let server: TestServer;
    let before: PrometheusText;
    let after: PrometheusText;
    const tenants: Record<'alpha' | 'beta' | 'limited' | 'idle', { key: string; tenantId: string }> = {} as never;
    /** What the clients saw: calls by "service/method code". */
    const seen: Record<string, number> = {};
    const totals = { accepted: 0, duplicates: 0, rejected: 0 };

    /** Runs one call, checks it ended with `expected`, and tallies it as the client saw it. */
    async function track<T>(method: string, expected: CodeName, run: () => Promise<{ code: CodeName; response: T | undefined }>): Promise<T | undefined> {
      const { code, response } = await run();
      expect(`${method} ${code}`).toBe(`${method} ${expected}`);
      seen[`${method} ${code}`] = (seen[`${method} ${code}`] ?? 0) + 1;
      const counts = response as Partial<IngestResponse> | undefined;
      if (method.startsWith(INGEST) && counts) {
        totals.accepted += counts.accepted ?? 0;
        totals.duplicates += counts.duplicates ?? 0;
        totals.rejected += counts.rejected ?? 0;
      }
      return response;
    }

    beforeAll(async () => {
      // Batches of 4 and no timed flush: batch counts follow from the event
      // counts alone. No auth cache: every well-formed key is one lookup.
      server = await startTestServer(db.url, {
        INGEST_BATCH_SIZE: '4',
        INGEST_FLUSH_INTERVAL: '60s',
        AUTH_CACHE_TTL: '0',
        DB_POOL_MAX: String(POOL_MAX),
        QUERY_STREAM_CHUNK_SIZE: '3',
      });
      tenants.alpha = await createTenantWithKey(db.pool, 'alpha');
      tenants.beta = await createTenantWithKey(db.pool, 'beta');
      // 2 calls a minute (one more each 30 s); 5 events of burst, refilled at 1 a second.
      tenants.limited = await createTenantWithKey(db.pool, 'limited', { callsPerMinute: 2, eventsPerSecond: 1, eventBurst: 5 });
      tenants.idle = await createTenantWithKey(db.pool, 'idle');
      before = await scrapeMetrics(server.httpUrl);

      const ingest = (key: Metadata, list: Event[]) => async () => fromIngest(await ingestUnary(server.ingest, key, { events: list }));
      const alpha = withKey(tenants.alpha.key);

      // alpha: 5 new events (batches of 4 and 1).
      const first = [...events(3, { eventType: 'log', serviceName: 'checkout' }), ...events(2, { eventType: 'metric', serviceName: 'payments' })];
      await track(`${INGEST}/Ingest`, 'OK', ingest(alpha, first));
      // alpha, streamed: 2 new, a copy of an earlier call's event, an invalid event
      // type, and a copy of this call's own first event (one batch of 3).
      const traces = events(2, { eventType: 'trace', serviceName: 'search' });
      await track(`${INGEST}/IngestStream`, 'OK', async () =>
        fromIngest(await ingestStream(server.ingest, alpha, [{ events: [...traces, first[0]!] }, { events: [makeEvent({ eventType: 'Not Valid' }), traces[0]!] }])),
      );
      // beta: 2 new and one too far in the future (a batch of 2), then the same 2 again (a batch of 2).
      const betaEvents = events(2, { eventType: 'log', serviceName: 'auth' });
      const future = makeEvent({ timestamp: { seconds: Math.floor(Date.now() / 1000) + 3600, nanos: 0 } });
      await track(`${INGEST}/Ingest`, 'OK', ingest(withKey(tenants.beta.key), [...betaEvents, future]));
      await track(`${INGEST}/Ingest`, 'OK', ingest(withKey(tenants.beta.key), betaEvents));
      // idle: only a rejected event (a payload that is not an object): nothing stored.
      await track(`${INGEST}/Ingest`, 'OK', ingest(withKey(tenants.idle.key), [makeEvent({ payloadJson: '[1]' })]));
      // limited: 5 new (batches of 4 and 1) empty its events bucket; 5 more need 5 s of refill,
      // and that second call empties its calls bucket, so that a third call needs 30 s.
      const limited = withKey(tenants.limited.key);
      await track(`${INGEST}/Ingest`, 'OK', ingest(limited, events(5, { eventType: 'log', serviceName: 'checkout' })));
      await track(`${INGEST}/Ingest`, 'RESOURCE_EXHAUSTED', ingest(limited, events(5, { eventType: 'log', serviceName: 'checkout' })));
      await track(`${QUERY}/QueryEvents`, 'RESOURCE_EXHAUSTED', () => outcomeOf(queryEvents(server.query, tenants.limited.key, {})));

      // Queries of alpha's 7 events: one page read each for the two pages, three
      // chunks of at most 3 for the stream, one aggregate; a refused limit reads nothing.
      const page = await track(`${QUERY}/QueryEvents`, 'OK', () => outcomeOf(queryEvents(server.query, tenants.alpha.key, { limit: 100 })));
      expect(page?.events).toHaveLength(7);
      await track(`${QUERY}/QueryEvents`, 'OK', () => outcomeOf(queryEvents(server.query, tenants.alpha.key, { page: 1, limit: 2 })));
      const chunks = await track(`${QUERY}/StreamEvents`, 'OK', () => outcomeOf(streamEvents(server.query, tenants.alpha.key, {})));
      expect(chunks?.map((chunk) => chunk.events.length)).toEqual([3, 3, 1]);
      await track(`${QUERY}/Aggregate`, 'OK', () => outcomeOf(aggregate(server.query, tenants.alpha.key, { groupBy: [GroupBy.GROUP_BY_EVENT_TYPE] })));
      await track(`${QUERY}/QueryEvents`, 'INVALID_ARGUMENT', () => outcomeOf(queryEvents(server.query, tenants.alpha.key, { limit: 5000 })));
      await track(`${QUERY}/Aggregate`, 'OK', () => outcomeOf(aggregate(server.query, tenants.idle.key, {})));

      // Authentication failures: no key and a malformed key are refused without a
      // lookup; an unknown well-formed key (x-api-key or Bearer) is looked up.
      await track(`${INGEST}/Ingest`, 'UNAUTHENTICATED', ingest(new Metadata(), events(1, {})));
      await track(`${QUERY}/QueryEvents`, 'UNAUTHENTICATED', () => outcomeOf(queryEvents(server.query, 'not-a-key', {})));
      await track(`${QUERY}/Aggregate`, 'UNAUTHENTICATED', () =>
        outcomeOf(new Promise<AggregateResponse>((resolve, reject) => server.query.aggregate({ filter: undefined, groupBy: [], bucket: undefined }, bearer(UNKNOWN_KEY), (error, response) => (error ? reject(error) : resolve(response))))),
      );
      await track(`${QUERY}/StreamEvents`, 'UNAUTHENTICATED', () => outcomeOf(streamEvents(server.query, UNKNOWN_KEY, {})));

      after = await scrapeMetrics(server.httpUrl);
    });

    afterAll(async () => {
      await server?.stop();
    });

    test('then the ingest event counters moved by what the responses said: accepted, duplicate, rejected', () => {
      // 5 + 2 + 2 + 5 accepted; 2 (stream) + 2 (beta again) duplicates; 1 + 1 + 1 rejected.
      expect(totals).toEqual({ accepted: 14, duplicates: 4, rejected: 3 });
      expect(deltas(before, after, 'telemetry_vault_ingest_events_total')).toEqual({
        '{"result":"accepted"}': totals.accepted,
        '{"result":"duplicate"}': totals.duplicates,
        '{"result":"rejected"}': totals.rejected,
      });
    });

    test('then stored events are counted by event type and by service name, and only newly stored ones', () => {
      expect(deltas(before, after, 'telemetry_vault_ingest_events_by_type_total')).toEqual({
        '{"event_type":"log"}': 3 + 2 + 5,
        '{"event_type":"metric"}': 2,
        '{"event_type":"trace"}': 2,
      });
      expect(deltas(before, after, 'telemetry_vault_ingest_events_by_service_total')).toEqual({
        '{"service_name":"checkout"}': 3 + 5,
        '{"service_name":"payments"}': 2,
        '{"service_name":"search"}': 2,
        '{"service_name":"auth"}': 2,
      });
    });

    test('then the batch histogram counts each written batch and sums their events', () => {
      // alpha 4+1, stream 3, beta 2, beta again 2, limited 4+1: seven batches, 17 events (duplicates included).
      expect(after.value('telemetry_vault_ingest_batch_events_count') - before.value('telemetry_vault_ingest_batch_events_count')).toBe(7);
      expect(after.value('telemetry_vault_ingest_batch_events_sum') - before.value('telemetry_vault_ingest_batch_events_sum')).toBe(17);
      const bucket = (le: string) => after.value('telemetry_vault_ingest_batch_events_bucket', { le }) - before.value('telemetry_vault_ingest_batch_events_bucket', { le });
      // Two batches of a single event (the fifth of alpha's and of limited's first calls).
      expect(bucket('1')).toBe(2);
      expect(bucket('+Inf')).toBe(7);
    });

    test('then grpc_server_handled_total and the handling-time histogram count each call by method and code', () => {
      const expected = Object.fromEntries(
        Object.entries(seen).map(([call, count]) => {
          const [method, code] = call.split(' ') as [string, string];
          const [service, name] = method.split('/') as [string, string];
          return [JSON.stringify({ grpc_code: code, grpc_method: name, grpc_service: service }), count];
        }),
      );
      expect(Object.values(seen).reduce((sum, count) => sum + count, 0)).toBe(18);
      expect(deltas(before, after, 'grpc_server_handled_total')).toEqual(expected);
      expect(deltas(before, after, 'grpc_server_handling_seconds_count')).toEqual(expected);
      expect(after.value('grpc_server_handling_seconds_sum')).toBeGreaterThan(0);
    });

    test('then authentication failures and rate-limit rejections are counted by bucket and service', () => {
      expect(deltas(before, after, 'telemetry_vault_auth_failures_total')).toEqual({ '{"outcome":"unauthenticated"}': 4 });
      expect(deltas(before, after, 'telemetry_vault_rate_limit_rejections_total')).toEqual({
        [JSON.stringify({ bucket: 'calls', grpc_service: QUERY })]: 1,
        [JSON.stringify({ bucket: 'events', grpc_service: INGEST })]: 1,
      });
    });

    test('then database operations are timed by operation: ingest_flush, read_page, aggregate, auth_lookup', () => {
      expect(deltas(before, after, 'telemetry_vault_db_query_seconds_count')).toEqual({
        // One per written batch.
        '{"operation":"ingest_flush"}': 7,
        // Two pages and three stream chunks.
        '{"operation":"read_page"}': 5,
        '{"operation":"aggregate"}': 2,
        // Every call with a well-formed key: 14 with valid keys, 2 with the unknown one.
        '{"operation":"auth_lookup"}': 16,
      });
    });

    test('then the pool gauges show the configured size, the reads\' share its size, and the database is up', () => {
      for (const pool of ['primary', 'read']) {
        expect(after.single('telemetry_vault_db_pool_connections', { pool, state: 'max' })).toBe(POOL_MAX);
        const total = after.single('telemetry_vault_db_pool_connections', { pool, state: 'total' });
        expect(total).toBeGreaterThanOrEqual(1);
        expect(total).toBeLessThanOrEqual(POOL_MAX);
        expect(after.single('telemetry_vault_db_pool_connections', { pool, state: 'idle' })).toBeLessThanOrEqual(total);
        expect(after.single('telemetry_vault_db_pool_connections', { pool, state: 'waiting' })).toBe(0);
      }
      // Reads' share of the primary pool: DB_POOL_MAX less INGEST_WRITE_CONCURRENCY (4 by default), none held or waited for once the calls are done.
      expect(after.single('telemetry_vault_db_read_share_connections', { state: 'max' })).toBe(POOL_MAX - 4);
      expect(after.single('telemetry_vault_db_read_share_connections', { state: 'in_use' })).toBe(0);
      expect(after.single('telemetry_vault_db_read_share_connections', { state: 'waiting' })).toBe(0);
      expect(after.single('telemetry_vault_database_up', { database: 'primary' })).toBe(1);
      expect(after.single('telemetry_vault_database_up', { database: 'read' })).toBe(1);
      // Before any traffic no tenant had stored events.
      expect(before.single('telemetry_vault_active_tenants')).toBe(0);
    });

    test('then the tenants that stored events have last_seen_at set, and the one that did not has none', async () => {
      const lastSeen = async () => {
        const { rows } = await db.pool.query<{ id: string; seen: boolean }>('SELECT id, last_seen_at IS NOT NULL AS seen FROM tenants');
        return Object.fromEntries(rows.map((row) => [row.id, row.seen]));
      };
      await eventually(async () =>
        expect(await lastSeen()).toEqual({ [tenants.alpha.tenantId]: true, [tenants.beta.tenantId]: true, [tenants.limited.tenantId]: true, [tenants.idle.tenantId]: false }),
      );
    });

    test("then Node's default process metrics are served with their types", () => {
      expect(after.types.get('process_cpu_user_seconds_total')).toBe('counter');
      expect(after.types.get('process_resident_memory_bytes')).toBe('gauge');
      expect(after.types.get('nodejs_heap_size_used_bytes')).toBe('gauge');
      expect(after.types.get('nodejs_eventloop_lag_p99_seconds')).toBe('gauge');
      expect(after.types.get('nodejs_gc_duration_seconds')).toBe('histogram');
      expect(after.single('process_resident_memory_bytes')).toBeGreaterThan(0);
    });

    test('then no per-event counter carries a tenant label (METRICS_TENANT_LABEL is off)', () => {
      expect(after.labelValues('telemetry_vault_ingest_events_total', 'tenant')).toEqual([]);
    });
  });

  describe('when a fresh server starts after that traffic, with METRICS_TENANT_LABEL=true and METRICS_MAX_LABEL_VALUES=2', () => {
    let server: TestServer;

    beforeAll(async () => {
      // Tenant activity is written in the background: start once it is recorded.
      await eventually(async () => {
        const { rows } = await db.pool.query<{ active: number }>("SELECT count(*)::int AS active FROM tenants WHERE last_seen_at > now() - interval '24 hours'");
        expect(rows[0]!.active).toBe(3);
      });
      server = await startTestServer(db.url, { METRICS_TENANT_LABEL: 'true', METRICS_MAX_LABEL_VALUES: '2' });
    });

    afterAll(async () => {
      await server?.stop();
    });

    test('then its first scrape counts the three tenants that stored events in the last 24 h, not the idle one', async () => {
      // The first count is read from the database (later ones are cached for 15 s).
      expect((await scrapeMetrics(server.httpUrl)).single('telemetry_vault_active_tenants')).toBe(3);
    });

    test('then the tenant label and the type and service labels keep two values each and count the rest as __other__', async () => {
      const [one, two, three] = [await createTenantWithKey(db.pool, 'label-one'), await createTenantWithKey(db.pool, 'label-two'), await createTenantWithKey(db.pool, 'label-three')];
      const before = await scrapeMetrics(server.httpUrl);
      const send = async (key: string, list: Event[]) => {
        const result = await ingestUnary(server.ingest, withKey(key), { events: list });
        expect(result.error).toBeUndefined();
        return result.response!;
      };
      // Separate calls fix which values come first: type-a/svc-1, then type-b/svc-2.
      await send(one.key, events(2, { eventType: 'type-a', serviceName: 'svc-1' }));
      await send(two.key, events(3, { eventType: 'type-b', serviceName: 'svc-2' }));
      // A third tenant, type and service are past the bound; type-a and svc-1 are known.
      expect(await send(three.key, [...events(4, { eventType: 'type-c', serviceName: 'svc-3' }), makeEvent({ eventType: 'type-a', serviceName: 'svc-1' }), makeEvent({ eventType: 'Bad' })])).toMatchObject({
        accepted: 5,
        rejected: 1,
      });
      await send(one.key, events(1, { eventType: 'type-b', serviceName: 'svc-2' }));
      const after = await scrapeMetrics(server.httpUrl);

      expect(after.labelValues('telemetry_vault_ingest_events_total', 'tenant')).toEqual([OTHER_LABEL, 'label-one', 'label-two'].sort());
      expect(deltas(before, after, 'telemetry_vault_ingest_events_total')).toEqual({
        [JSON.stringify({ result: 'accepted', tenant: 'label-one' })]: 3,
        [JSON.stringify({ result: 'accepted', tenant: 'label-two' })]: 3,
        [JSON.stringify({ result: 'accepted', tenant: OTHER_LABEL })]: 5,
        [JSON.stringify({ result: 'rejected', tenant: OTHER_LABEL })]: 1,
      });
      expect(deltas(before, after, 'telemetry_vault_ingest_events_by_type_total')).toEqual({
        '{"event_type":"type-a"}': 3,
        '{"event_type":"type-b"}': 4,
        [JSON.stringify({ event_type: OTHER_LABEL })]: 4,
      });
      expect(deltas(before, after, 'telemetry_vault_ingest_events_by_service_total')).toEqual({
        '{"service_name":"svc-1"}': 3,
        '{"service_name":"svc-2"}': 4,
        [JSON.stringify({ service_name: OTHER_LABEL })]: 4,
      });
    });
  });
});
