import { status } from '@grpc/grpc-js';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { GroupBy, SortOrder, type AggregateRow, type EventFilter } from '../../src/gen/telemetry/v1/query_service';
import { createTenantWithKey, ingestStream, ingestUnary } from '../support/ingest-calls';
import { aggregate, failureOf, jsonContains, microsOf, queryEvents, sortReference, streamEvents, timestampOf, violatedFields, walkAllPages } from '../support/query-fixtures';
import { metadataWith, queryWith } from '../support/refusal';
import type { SeedEvent } from '../support/seed-events';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, withKey, type TestServer } from '../support/test-server';

/**
 * Strings that would change a statement if anything spliced them into SQL, or
 * that mean something to LIKE, COPY's text format, JSON paths or comments.
 * The printable ASCII ones can be event ids.
 */
const ASCII_INJECTIONS = [
  "' OR 1=1 --",
  "'); DROP TABLE events; --",
  '%',
  '_',
  '\\',
  '"',
  '$1',
  '::text',
  '*/',
  "E'\\x27'",
  '\\N',
  '\\.',
  "' UNION SELECT key_hash::text FROM api_keys --",
  '1; DELETE FROM events WHERE true',
  "%' OR '%'='",
  "tenant_id') OR ('1'='1",
];
const INJECTIONS = [...ASCII_INJECTIONS, '’ OR ’1’=’1', '\t\n\\.\n', '{"owner":"beta"}', '/* */ OR 1=1', 'ʼ; SELECT pg_sleep(1); --'];
const TYPES = ['log', 'metric', 'trace', 'audit.v1:x-y'];
const SERVICES = ['checkout', 'payments', '%', '_', "' OR 1=1 --", "'); DROP TABLE events; --", '\\N', 'a\tb\nc\\.', '’ OR ’1’=’1', '/* */'];
const TENANTS = ['alpha', 'beta', 'gamma'] as const;
type TenantName = (typeof TENANTS)[number];

/** 2024-03-01T00:00:00Z in microseconds. */
const BASE_US = 1_709_251_200_000_000n;
const SHARED = 48;
/** Page size of the page-mode reads. */
const PAGE = 20;
/** Two events per timestamp, so that the keyset's tie-break on event_id (the injection ids among them) matters. */
const timeOf = (i: number): bigint => BASE_US + BigInt(Math.floor(i / 2)) * 1_000_123n;

/**
 * A tenant's events: the same ids, times, types, services and payload shapes
 * in every tenant (ids and services full of injection strings), told apart
 * by `owner` and `secret`; plus two ids of its own.
 */
function eventsOf(owner: TenantName): SeedEvent[] {
  const shared = Array.from({ length: SHARED }, (_, i) => ({
    eventId: ASCII_INJECTIONS[i] ?? `evt-${String(i).padStart(3, '0')}`,
    timestampUs: timeOf(i),
    eventType: TYPES[i % TYPES.length]!,
    serviceName: SERVICES[Math.floor(i / 2) % SERVICES.length]!,
    payload: {
      owner,
      secret: `${owner}-secret-${i}`,
      n: i,
      level: ['info', 'error', 'warn'][i % 3]!,
      note: INJECTIONS[i % INJECTIONS.length]!,
      nested: { tag: INJECTIONS[(i * 3) % INJECTIONS.length]!, region: i % 2 === 0 ? 'eu' : 'us' },
      list: [i % 2 === 0 ? 'a' : 'b', INJECTIONS[i % 5]!],
      [INJECTIONS[(i * 7) % INJECTIONS.length]!]: 'v',
    },
  }));
  const own = [0, 1].map((j) => ({
    eventId: `${owner}-only-${j}`,
    timestampUs: timeOf(SHARED + j),
    eventType: TYPES[j]!,
    serviceName: SERVICES[j]!,
    payload: { owner, secret: `${owner}-own-${j}`, n: SHARED + j, level: 'info', note: owner, nested: { tag: owner, region: 'eu' }, list: ['a'] },
  }));
  return [...shared, ...own];
}

/** As sent: payload_json for even ids, a Struct for odd ones. */
function toProtoEvent(event: SeedEvent, i: number): Event {
  return {
    eventId: event.eventId,
    timestamp: timestampOf(event.timestampUs),
    eventType: event.eventType,
    serviceName: event.serviceName,
    payloadJson: i % 2 === 0 ? JSON.stringify(event.payload) : undefined,
    payload: i % 2 === 0 ? undefined : event.payload,
    receivedAt: undefined,
  };
}

/** A filter of the matrix; `payload` is a function of the caller, so that filters can name the caller or another tenant. */
interface MatrixFilter {
  readonly name: string;
  readonly startUs?: bigint;
  readonly endUs?: bigint;
  readonly eventTypes: string[];
  readonly serviceNames: string[];
  readonly payload?: (caller: TenantName) => Record<string, unknown>;
}

const TIME_RANGES: Pick<MatrixFilter, 'startUs' | 'endUs'>[] = [{}, { startUs: timeOf(10) }, { endUs: timeOf(31) }, { startUs: timeOf(5), endUs: timeOf(41) }, { startUs: timeOf(20), endUs: timeOf(20) }];
const TYPE_SETS = [[], ['log', 'metric', 'trace'], ['log'], ["' OR 1=1 --"], ['log', '%', 'trace'], ['audit.v1:x-y', "'); DROP TABLE events; --"]];
const SERVICE_SETS = [[], ['%', '_', 'checkout', "' OR 1=1 --", '\\N', '’ OR ’1’=’1'], ['_'], ['checkout', "' OR 1=1 --"], ["'); DROP TABLE events; --", '\\N', 'a\tb\nc\\.'], ['’ OR ’1’=’1', '/* */', 'payments'], ['%%', "checkout' OR '1'='1"]];
const other = (caller: TenantName): TenantName => TENANTS[(TENANTS.indexOf(caller) + 1) % TENANTS.length]!;
const PAYLOADS: [string, ((caller: TenantName) => Record<string, unknown>) | undefined][] = [
  ['none', undefined],
  ['{}', () => ({})],
  ['its own owner', (caller) => ({ owner: caller })],
  ["another tenant's owner", (caller) => ({ owner: other(caller) })],
  ["another tenant's secret", (caller) => ({ secret: `${other(caller)}-secret-3` })],
  ['a scalar', () => ({ level: 'error' })],
  ['an injection value', () => ({ note: "' OR 1=1 --" })],
  ['an injection key', () => ({ [INJECTIONS[7]!]: 'v' })],
  ['a nested object with an injection', () => ({ nested: { tag: INJECTIONS[3]! } })],
  ['an empty nested object', () => ({ nested: {} })],
  ['a list', () => ({ list: ['b', INJECTIONS[1]!] })],
  ['JSON text that looks like a filter', () => ({ note: '{"owner":"beta"}' })],
];

/**
 * The generated matrix: every time range with every payload condition, and
 * every type set with every service set, the other dimensions rotating.
 */
function filterMatrix(): MatrixFilter[] {
  const filters: MatrixFilter[] = [];
  // The rotating dimensions take their broad values (the first two) more often, so that most filters match something.
  const rotate = <T>(values: readonly T[], k: number): [T, number] => {
    const index = k % 3 === 2 ? 2 + (Math.floor(k / 3) % (values.length - 2)) : k % 2;
    return [values[index]!, index];
  };
  TIME_RANGES.forEach((range, t) =>
    PAYLOADS.forEach(([payloadName, payload], p) => {
      const k = t * PAYLOADS.length + p;
      const [eventTypes, ti] = rotate(TYPE_SETS, k);
      const [serviceNames, si] = rotate(SERVICE_SETS, k + 1);
      filters.push({ name: `time#${t} types#${ti} services#${si} payload ${payloadName}`, ...range, eventTypes, serviceNames, payload });
    }),
  );
  TYPE_SETS.forEach((eventTypes, t) =>
    SERVICE_SETS.forEach((serviceNames, s) => {
      const k = t * SERVICE_SETS.length + s;
      const [range, ri] = rotate(TIME_RANGES, k);
      const [[payloadName, payload]] = rotate(PAYLOADS, k + 1);
      filters.push({ name: `types#${t} services#${s} time#${ri} payload ${payloadName}`, ...range, eventTypes, serviceNames, payload });
    }),
  );
  return filters;
}

function matches(event: SeedEvent, filter: MatrixFilter, caller: TenantName): boolean {
  const contains = filter.payload?.(caller);
  return (
    (filter.startUs === undefined || event.timestampUs >= filter.startUs) &&
    (filter.endUs === undefined || event.timestampUs < filter.endUs) &&
    (filter.eventTypes.length === 0 || filter.eventTypes.includes(event.eventType)) &&
    (filter.serviceNames.length === 0 || filter.serviceNames.includes(event.serviceName)) &&
    (contains === undefined || jsonContains(event.payload, contains))
  );
}

function protoFilter(filter: MatrixFilter, caller: TenantName): Partial<EventFilter> {
  const contains = filter.payload?.(caller);
  return {
    startTime: filter.startUs === undefined ? undefined : timestampOf(filter.startUs),
    endTime: filter.endUs === undefined ? undefined : timestampOf(filter.endUs),
    eventTypes: filter.eventTypes,
    serviceNames: filter.serviceNames,
    ...(contains === undefined ? {} : { payloadContains: contains }),
  };
}

/** Events as comparable tuples: every field, the payload whole (so another tenant's copy of an id never passes). */
const asStored = (event: SeedEvent): unknown[] => [event.eventId, event.timestampUs, event.eventType, event.serviceName, event.payload];
const asReturned = (event: Event): unknown[] => [event.eventId, microsOf(event.timestamp), event.eventType, event.serviceName, event.payloadJson === undefined ? event.payload : JSON.parse(event.payloadJson)];

const GROUPINGS: { name: string; groupBy: GroupBy[]; bucketSeconds?: number }[] = [
  { name: 'no grouping', groupBy: [] },
  { name: 'event type', groupBy: [GroupBy.GROUP_BY_EVENT_TYPE] },
  { name: 'service name', groupBy: [GroupBy.GROUP_BY_SERVICE_NAME] },
  { name: 'both', groupBy: [GroupBy.GROUP_BY_SERVICE_NAME, GroupBy.GROUP_BY_EVENT_TYPE] },
  { name: '5 s buckets', groupBy: [], bucketSeconds: 5 },
  { name: '3 s buckets, type and service', groupBy: [GroupBy.GROUP_BY_EVENT_TYPE, GroupBy.GROUP_BY_SERVICE_NAME], bucketSeconds: 3 },
];

/** Aggregate rows as sorted `bucket|type|service|count` strings, computed from the reference. */
function referenceRows(events: readonly SeedEvent[], grouping: (typeof GROUPINGS)[number]): string[] {
  const byType = grouping.groupBy.includes(GroupBy.GROUP_BY_EVENT_TYPE);
  const byService = grouping.groupBy.includes(GroupBy.GROUP_BY_SERVICE_NAME);
  const widthUs = grouping.bucketSeconds === undefined ? undefined : BigInt(grouping.bucketSeconds) * 1_000_000n;
  const counts = new Map<string, number>();
  for (const event of events) {
    const bucket = widthUs === undefined ? '' : String((event.timestampUs / widthUs) * widthUs);
    const key = `${bucket}|${byType ? event.eventType : ''}|${byService ? event.serviceName : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (grouping.groupBy.length === 0 && widthUs === undefined && counts.size === 0) counts.set('||', 0);
  return [...counts].map(([key, count]) => `${key}|${count}`).sort();
}

const returnedRows = (rows: readonly AggregateRow[]): string[] =>
  rows.map((row) => `${row.bucketStart === undefined ? '' : String(microsOf(row.bucketStart))}|${row.eventType}|${row.serviceName}|${row.count}`).sort();

describe('tenant isolation', () => {
  let db: TestDatabase;
  let server: TestServer;
  const tenants = {} as Record<TenantName, { key: string; tenantId: string; events: SeedEvent[] }>;

  /** Each row of a tenant as stored, with the transaction that wrote it. */
  const rowsOf = async (tenantId: string): Promise<string[]> =>
    (await db.pool.query<{ row: string }>(`SELECT concat_ws('|', event_id, payload::text, received_at::text, xmin::text) AS row FROM events WHERE tenant_id = $1 ORDER BY event_id`, [tenantId])).rows.map((row) => row.row);

  beforeAll(async () => {
    db = await createTestDatabase();
    // Thousands of calls from one tenant in a few seconds: out of the calls limit's way.
    server = await startTestServer(db.url, { RATE_LIMIT_CALLS_PER_MINUTE: '10000000' });
    for (const name of TENANTS) tenants[name] = { ...(await createTenantWithKey(db.pool, name)), events: eventsOf(name) };
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  test('when three tenants ingest the same event ids, then each call counts them accepted, and none changes another tenant’s rows', async () => {
    const { alpha, beta, gamma } = tenants;
    const first = await ingestUnary(server.ingest, withKey(alpha.key), { events: alpha.events.map(toProtoEvent) });
    expect(first.response).toMatchObject({ accepted: alpha.events.length, duplicates: 0, rejected: 0 });
    const alphaRows = await rowsOf(alpha.tenantId);
    expect(alphaRows).toHaveLength(alpha.events.length);

    const second = await ingestStream(server.ingest, withKey(beta.key), [{ events: beta.events.slice(0, 20).map(toProtoEvent) }, { events: beta.events.slice(20).map((event, i) => toProtoEvent(event, i + 20)) }]);
    expect(second.response).toMatchObject({ accepted: beta.events.length, duplicates: 0, rejected: 0 });
    const third = await ingestStream(server.ingest, withKey(gamma.key), [{ events: gamma.events.map(toProtoEvent) }]);
    expect(third.response).toMatchObject({ accepted: gamma.events.length, duplicates: 0, rejected: 0 });
    // A retry by beta is all duplicates, in beta only.
    const retry = await ingestUnary(server.ingest, withKey(beta.key), { events: alpha.events.slice(0, SHARED).map(toProtoEvent) });
    expect(retry.response).toMatchObject({ accepted: 0, duplicates: SHARED, rejected: 0 });
    const alphaOnly = await ingestUnary(server.ingest, withKey(beta.key), { events: alpha.events.slice(SHARED).map(toProtoEvent) });
    expect(alphaOnly.response).toMatchObject({ accepted: 2, duplicates: 0 });

    // Not a byte of alpha's rows changed, not even rewritten (xmin is the writing transaction).
    expect(await rowsOf(alpha.tenantId)).toEqual(alphaRows);
    const owners = await db.pool.query<{ tenant_id: string; owners: string[]; count: string }>(`SELECT tenant_id, array_agg(DISTINCT payload->>'owner') AS owners, count(*) FROM events GROUP BY tenant_id`);
    const byTenant = Object.fromEntries(owners.rows.map((row) => [row.tenant_id, { owners: row.owners, count: Number(row.count) }]));
    expect(byTenant).toEqual({
      [alpha.tenantId]: { owners: ['alpha'], count: 50 },
      [beta.tenantId]: { owners: ['alpha', 'beta'], count: 52 },
      [gamma.tenantId]: { owners: ['gamma'], count: 50 },
    });
    // beta now also holds alpha's two own events, as its own (sent with beta's key).
    tenants.beta.events = [...beta.events, ...alpha.events.slice(SHARED)];
  });

  test('when each tenant runs every RPC over the filter matrix (injection strings in every string field), then it gets exactly its own events and counts', async () => {
    const filters = filterMatrix();
    expect(filters.length).toBeGreaterThan(90);
    let compared = 0;
    let empty = 0;
    await Promise.all(
      TENANTS.map(async (caller) => {
        const { key, events } = tenants[caller];
        for (const filter of filters) {
          const wanted = events.filter((event) => matches(event, filter, caller));
          if (wanted.length === 0) empty++;
          const proto = protoFilter(filter, caller);
          const label = `${caller}: ${filter.name}`;
          const reference = sortReference(wanted);
          const walks = (['newest-first', 'oldest-first'] as const).map(async (order) => {
            const sortOrder = order === 'newest-first' ? SortOrder.SORT_ORDER_NEWEST_FIRST : SortOrder.SORT_ORDER_OLDEST_FIRST;
            const walked = await walkAllPages(server.query, key, { filter: proto, order: sortOrder, limit: 12, payloadAsJson: order === 'oldest-first' });
            expect([label, order, walked.map(asReturned)]).toEqual([label, order, sortReference(wanted, order).map(asStored)]);
          });
          const pages = Array.from({ length: Math.max(1, Math.ceil(reference.length / PAGE)) }, async (_, at) => {
            const response = await queryEvents(server.query, key, { filter: proto, page: at + 1, limit: PAGE });
            expect([label, at + 1, response.totalCount, response.events.map(asReturned)]).toEqual([label, at + 1, reference.length, reference.slice(at * PAGE, (at + 1) * PAGE).map(asStored)]);
          });
          const stream = streamEvents(server.query, key, { filter: proto, order: SortOrder.SORT_ORDER_OLDEST_FIRST }).then((messages) => {
            expect([label, messages.flatMap((message) => message.events).map(asReturned)]).toEqual([label, sortReference(wanted, 'oldest-first').map(asStored)]);
          });
          // Every grouping over the matrix: the plain count for each filter, and one more in turn.
          const aggregates = [GROUPINGS[0]!, GROUPINGS[1 + (compared % (GROUPINGS.length - 1))]!].map(async (grouping) => {
            const response = await aggregate(server.query, key, { filter: proto, groupBy: grouping.groupBy, ...(grouping.bucketSeconds === undefined ? {} : { bucket: { seconds: grouping.bucketSeconds, nanos: 0 } }) });
            expect([label, grouping.name, returnedRows(response.rows)]).toEqual([label, grouping.name, referenceRows(wanted, grouping)]);
          });
          compared++;
          await Promise.all([...walks, ...pages, stream, ...aggregates]);
        }
      }),
    );
    expect(compared).toBe(filters.length * TENANTS.length);
    // The matrix is not all empty results (nor all full ones).
    expect(empty).toBeLessThan(compared / 2);
    expect(empty).toBeGreaterThan(0);
  });

  test("when a tenant sends another tenant's cursor, or an injection string as a cursor, then it is INVALID_ARGUMENT naming cursor and no data", async () => {
    const { alpha, beta } = tenants;
    const page = await queryEvents(server.query, alpha.key, { limit: 5 });
    expect(page.hasMore).toBe(true);
    for (const [name, key] of [['beta', beta.key], ['gamma', tenants.gamma.key]] as const) {
      const error = await failureOf(queryEvents(server.query, key, { limit: 5, cursor: page.nextCursor }));
      expect([name, error.code, violatedFields(error)]).toEqual([name, status.INVALID_ARGUMENT, ['cursor']]);
    }
    // The same cursor, the same filter and order, for its own tenant: it goes on.
    expect((await queryEvents(server.query, alpha.key, { limit: 5, cursor: page.nextCursor })).events).toHaveLength(5);
    for (const cursor of [...INJECTIONS, `${page.nextCursor}' OR 1=1 --`, page.nextCursor.slice(0, -2)]) {
      const error = await failureOf(queryEvents(server.query, beta.key, { limit: 5, cursor }));
      expect([JSON.stringify(cursor), error.code, violatedFields(error)]).toEqual([JSON.stringify(cursor), status.INVALID_ARGUMENT, ['cursor']]);
    }
  });

  test('when x-request-id carries injection strings, then calls answer the caller’s own data, echoing the id only when it is a sane one', async () => {
    for (const requestId of ASCII_INJECTIONS) {
      const result = await queryWith(server.query, metadataWith({ 'x-api-key': tenants.gamma.key, 'x-request-id': requestId }));
      expect(result.error).toBeUndefined();
      expect(result.response?.events.map((event) => event.payload?.owner)).toEqual(['gamma']);
      const echoed = String(result.headers.get('x-request-id')[0]);
      expect(echoed).toEqual(/^[\x21-\x7e]{1,128}$/.test(requestId) ? requestId : expect.stringMatching(/^[\da-f-]{36}$/));
    }
  });

  test('when events carry injection strings where the rules refuse them, then they are rejected one by one and nothing else changes', async () => {
    const { alpha } = tenants;
    const before = await db.pool.query<{ count: string }>('SELECT count(*) FROM events');
    const bad = ["' OR 1=1 --", 'LOG; DROP TABLE events', '%', '’'].map((eventType, i) => toProtoEvent({ ...alpha.events[i]!, eventId: `bad-${i}`, eventType }, i));
    const nonAscii = toProtoEvent({ ...alpha.events[0]!, eventId: '’ OR ’1’=’1' }, 0);
    const result = await ingestUnary(server.ingest, withKey(alpha.key), { events: [...bad, nonAscii] });
    expect(result.response).toMatchObject({ accepted: 0, duplicates: 0, rejected: 5 });
    expect(result.response?.rejectedEvents.map((rejected) => rejected.reason.split(' ')[0])).toEqual(['event_type', 'event_type', 'event_type', 'event_type', 'event_id']);
    expect(Number((await db.pool.query<{ count: string }>('SELECT count(*) FROM events')).rows[0]!.count)).toBe(Number(before.rows[0]!.count));
    expect(Number((await db.pool.query<{ count: string }>('SELECT count(*) FROM api_keys')).rows[0]!.count)).toBe(TENANTS.length);
  });
});
