import { status } from '@grpc/grpc-js';
import { GroupBy, type AggregateRow } from '../../src/gen/telemetry/v1/query_service';
import { aggregate, createTenantWithKey, failureOf, jsonContains, microsOf, timestampOf, violatedFields } from '../support/query-fixtures';
import { BASE_US, makeEvents, seedEvents, type SeedEvent } from '../support/seed-events';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, type TestServer } from '../support/test-server';

const MAX_ROWS = 50;
// Spread over more than a day, and across the epoch-aligned hour and minute boundaries.
const events = makeEvents(900).map((event, i) => ({ ...event, timestampUs: event.timestampUs + BigInt(i % 4) * 7_777_000_000n }));

interface Grouping {
  byType?: boolean;
  byService?: boolean;
  bucketUs?: bigint;
}

/** The reference counts, computed here: buckets start at floor(t / width) * width from the unix epoch. */
function referenceRows(source: readonly SeedEvent[], grouping: Grouping): { eventType: string; serviceName: string; bucketStartUs: bigint | undefined; count: number }[] {
  const groups = new Map<string, { eventType: string; serviceName: string; bucketStartUs: bigint | undefined; count: number }>();
  for (const event of source) {
    const bucketStartUs = grouping.bucketUs === undefined ? undefined : (event.timestampUs / grouping.bucketUs) * grouping.bucketUs;
    const row = { eventType: grouping.byType ? event.eventType : '', serviceName: grouping.byService ? event.serviceName : '', bucketStartUs, count: 0 };
    const key = `${row.bucketStartUs}|${row.eventType}|${row.serviceName}`;
    (groups.get(key) ?? groups.set(key, row).get(key)!).count += 1;
  }
  return [...groups.values()].sort(
    (a, b) => (a.bucketStartUs === b.bucketStartUs ? 0 : a.bucketStartUs! < b.bucketStartUs! ? -1 : 1) || a.eventType.localeCompare(b.eventType) || a.serviceName.localeCompare(b.serviceName),
  );
}

function plain(rows: AggregateRow[]): { eventType: string; serviceName: string; bucketStartUs: bigint | undefined; count: number }[] {
  return rows.map((row) => ({ eventType: row.eventType, serviceName: row.serviceName, bucketStartUs: row.bucketStart && microsOf(row.bucketStart), count: row.count }));
}

function request(grouping: Grouping): { groupBy: GroupBy[]; bucket?: { seconds: number; nanos: number } } {
  return {
    groupBy: [...(grouping.byType ? [GroupBy.GROUP_BY_EVENT_TYPE] : []), ...(grouping.byService ? [GroupBy.GROUP_BY_SERVICE_NAME] : [])],
    ...(grouping.bucketUs !== undefined ? { bucket: { seconds: Number(grouping.bucketUs / 1_000_000n), nanos: Number(grouping.bucketUs % 1_000_000n) * 1000 } } : {}),
  };
}

describe('Aggregate', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { QUERY_AGGREGATE_MAX_ROWS: String(MAX_ROWS) });
    const tenant = await createTenantWithKey(db.pool, 'acme');
    const other = await createTenantWithKey(db.pool, 'other');
    key = tenant.key;
    await seedEvents(db.pool, tenant.tenantId, events);
    await seedEvents(db.pool, other.tenantId, makeEvents(500));
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  test.each<[string, Grouping]>([
    ['nothing (one row with the total)', {}],
    ['event type', { byType: true }],
    ['service name', { byService: true }],
    ['event type and service name', { byType: true, byService: true }],
    ['a 1 h bucket', { bucketUs: 3_600_000_000n }],
    ['a 1 h bucket and event type', { bucketUs: 3_600_000_000n, byType: true }],
    ['a 6 h bucket, event type and service name', { bucketUs: 21_600_000_000n, byType: true, byService: true }],
    ['a 1 day bucket and service name', { bucketUs: 86_400_000_000n, byService: true }],
    ['a 90 min bucket', { bucketUs: 5_400_000_000n }],
    ['a 2.5 h bucket with a fraction of a second', { bucketUs: 9_000_500_000n }],
  ])('when grouping by %s, then the counts are the reference, in bucket, type, service order', async (_name, grouping) => {
    const response = await aggregate(server.query, key, request(grouping));
    const expected = referenceRows(events, grouping);
    expect(expected.length).toBeLessThanOrEqual(MAX_ROWS);
    expect(plain(response.rows)).toEqual(expected);
  });

  test.each<[string, bigint, number]>([
    ['1 s', 1_000_000n, 150],
    ['7 s', 7_000_000n, 300],
    ['1 min', 60_000_000n, 900],
  ])('when the bucket is %s, then each bucket counts the events of its epoch-aligned span', async (_name, bucketUs, upTo) => {
    // A time range keeps the bucket count under the row bound.
    const startUs = BASE_US;
    const endUs = BASE_US + BigInt(upTo / 3) * 1_000_000n;
    const inRange = events.filter((event) => event.timestampUs >= startUs && event.timestampUs < endUs);
    const response = await aggregate(server.query, key, { filter: { startTime: timestampOf(startUs), endTime: timestampOf(endUs) }, ...request({ bucketUs, byType: bucketUs > 1_000_000n }) });
    expect(plain(response.rows)).toEqual(referenceRows(inRange, { bucketUs, byType: bucketUs > 1_000_000n }));
  });

  test('when a filter is given, then only matching events are counted', async () => {
    const filter = { eventTypes: ['log', 'trace'], serviceNames: ['payments'], payloadContains: { level: 'info' } };
    const matching = events.filter((event) => filter.eventTypes.includes(event.eventType) && event.serviceName === 'payments' && jsonContains(event.payload, filter.payloadContains));
    const response = await aggregate(server.query, key, { filter, groupBy: [GroupBy.GROUP_BY_EVENT_TYPE] });
    expect(plain(response.rows)).toEqual(referenceRows(matching, { byType: true }));
  });

  test('when nothing matches, then ungrouped it is one row counting 0, and grouped no rows', async () => {
    const filter = { eventTypes: ['nope'] };
    expect(plain((await aggregate(server.query, key, { filter })).rows)).toEqual([{ eventType: '', serviceName: '', bucketStartUs: undefined, count: 0 }]);
    expect((await aggregate(server.query, key, { filter, groupBy: [GroupBy.GROUP_BY_SERVICE_NAME] })).rows).toEqual([]);
  });

  test('when the result has exactly the row bound, then it is returned; one more and the call is INVALID_ARGUMENT naming the bound', async () => {
    // The end that takes in exactly `count` one-second buckets.
    const seconds = [...new Set(events.map((event) => event.timestampUs / 1_000_000n))].sort((a, b) => (a < b ? -1 : 1));
    const upTo = (count: number) => ({ startTime: timestampOf(seconds[0]! * 1_000_000n), endTime: timestampOf((seconds[count - 1]! + 1n) * 1_000_000n) });
    expect((await aggregate(server.query, key, { filter: upTo(MAX_ROWS), bucket: { seconds: 1 } })).rows).toHaveLength(MAX_ROWS);
    const error = await failureOf(aggregate(server.query, key, { filter: upTo(MAX_ROWS + 1), bucket: { seconds: 1 } }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(`more than ${MAX_ROWS} rows (QUERY_AGGREGATE_MAX_ROWS)`);
    expect(violatedFields(error)).toEqual(['bucket', 'filter']);
  });

  test.each([
    ['a bucket under 1 s', { bucket: { seconds: 0, nanos: 999_999_999 } }, 'bucket'],
    ['a negative bucket', { bucket: { seconds: -60 } }, 'bucket'],
    ['a bucket with mixed signs', { bucket: { seconds: 5, nanos: -1 } }, 'bucket'],
    ['GROUP_BY_UNSPECIFIED', { groupBy: [GroupBy.GROUP_BY_UNSPECIFIED] }, 'group_by'],
    ['an unknown group_by value', { groupBy: [GroupBy.GROUP_BY_EVENT_TYPE, 9 as GroupBy] }, 'group_by'],
    ['an end before the start', { filter: { startTime: { seconds: 10 }, endTime: { seconds: 9 } } }, 'filter.end_time'],
  ] as [string, Parameters<typeof aggregate>[2], string][])('when the request has %s, then it is INVALID_ARGUMENT naming the field', async (_name, body, field) => {
    const error = await failureOf(aggregate(server.query, key, body));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(violatedFields(error)).toEqual([field]);
  });

  test('when a bucket is exactly 1 s, then it is accepted', async () => {
    const endUs = BASE_US + 3_000_000n;
    const response = await aggregate(server.query, key, { bucket: { seconds: 1 }, filter: { endTime: timestampOf(endUs) } });
    const expected = referenceRows(events.filter((event) => event.timestampUs < endUs), { bucketUs: 1_000_000n });
    expect(expected.length).toBeGreaterThan(0);
    expect(plain(response.rows)).toEqual(expected);
  });
});
