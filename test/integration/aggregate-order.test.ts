import { GroupBy, type AggregateResponse } from '../../src/gen/telemetry/v1/query_service';
import { aggregate, createTenantWithKey, microsOf } from '../support/query-fixtures';
import { BASE_US, seedEvents, type SeedEvent } from '../support/seed-events';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * Aggregate's rows come in bucket, then event type, then service name
 * order, the names in UTF-8 byte order (the "C" collation's), which is not
 * JavaScript's UTF-16 order past U+FFFF nor a locale's. PostgreSQL makes
 * that order (groupedCounts); these names tell the orders apart.
 */
const NAMES = ['a', 'ab', 'b', 'Z', 'service-01', 'service-1', '\u00e9', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '\ud800\udc00', '\ud83d\ude00', '\udbff\udfff', 'a\ud83d\ude00', 'a\uffff'];
const HOUR_US = 3_600_000_000n;

/** Events of every pair of names, in two hours, stored in no particular order. */
const events: SeedEvent[] = [];
for (const [t, eventType] of NAMES.entries()) {
  for (const [s, serviceName] of NAMES.entries()) {
    if ((t + s) % 3 === 0) continue;
    for (const hour of [1n, 0n]) events.push({ eventId: `e-${t}-${s}-${hour}`, timestampUs: BASE_US + hour * HOUR_US + BigInt(t * 1000 + s), eventType, serviceName, payload: { n: t } });
  }
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** [bucket start, type, service] of each row, as the response gives them. */
function keysOf(response: AggregateResponse): [bigint, string, string][] {
  return response.rows.map((row) => [microsOf(row.bucketStart!), row.eventType, row.serviceName]);
}

describe('Aggregate order', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
    const tenant = await createTenantWithKey(db.pool, 'order');
    key = tenant.key;
    await seedEvents(db.pool, tenant.tenantId, events);
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const expected = (): [bigint, string, string][] =>
    [...new Map(events.map((event) => [`${event.timestampUs / HOUR_US}|${event.eventType}|${event.serviceName}`, [(event.timestampUs / HOUR_US) * HOUR_US, event.eventType, event.serviceName] as [bigint, string, string]])).values()].sort(
      (a, b) => (a[0] === b[0] ? 0 : a[0] < b[0] ? -1 : 1) || byBytes(a[1], b[1]) || byBytes(a[2], b[2]),
    );

  test.each([
    ['the rollups (an aligned request)', {}],
    ['the scan (a payload condition)', { payloadContains: {} }],
  ])('when names differ past U+FFFF and in case, then %s returns rows by bucket, then type and service in UTF-8 byte order', async (_path, filter) => {
    const response = await aggregate(server.query, key, { filter, groupBy: [GroupBy.GROUP_BY_EVENT_TYPE, GroupBy.GROUP_BY_SERVICE_NAME], bucket: { seconds: 3600, nanos: 0 } });
    expect(keysOf(response)).toEqual(expected());
    expect(response.rows.reduce((sum, row) => sum + row.count, 0)).toBe(events.length);
  });
});
