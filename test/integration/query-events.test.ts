import { status } from '@grpc/grpc-js';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { SortOrder, type EventFilter } from '../../src/gen/telemetry/v1/query_service';
import {
  createTenantWithKey,
  failureOf,
  jsonContains,
  microsOf,
  queryEvents,
  sortReference,
  timestampOf,
  violatedFields,
  walkAllPages,
} from '../support/query-fixtures';
import { BASE_US, makeEvents, seedEvents, type SeedEvent } from '../support/seed-events';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, type TestServer } from '../support/test-server';

type Order = 'newest-first' | 'oldest-first';
const ORDERS: Record<Order, SortOrder> = { 'newest-first': SortOrder.SORT_ORDER_NEWEST_FIRST, 'oldest-first': SortOrder.SORT_ORDER_OLDEST_FIRST };

/** The reference: what a filter must match, computed here from the events the test inserted. */
interface ReferenceFilter {
  startUs?: bigint;
  endUs?: bigint;
  eventTypes?: string[];
  serviceNames?: string[];
  payloadContains?: Record<string, unknown>;
}

function matches(event: SeedEvent, filter: ReferenceFilter): boolean {
  return (
    (filter.startUs === undefined || event.timestampUs >= filter.startUs) &&
    (filter.endUs === undefined || event.timestampUs < filter.endUs) &&
    (filter.eventTypes === undefined || filter.eventTypes.includes(event.eventType)) &&
    (filter.serviceNames === undefined || filter.serviceNames.includes(event.serviceName)) &&
    (filter.payloadContains === undefined || jsonContains(event.payload, filter.payloadContains))
  );
}

function toProtoFilter(filter: ReferenceFilter): Partial<EventFilter> {
  return {
    ...(filter.startUs !== undefined ? { startTime: timestampOf(filter.startUs) } : {}),
    ...(filter.endUs !== undefined ? { endTime: timestampOf(filter.endUs) } : {}),
    eventTypes: filter.eventTypes ?? [],
    serviceNames: filter.serviceNames ?? [],
    ...(filter.payloadContains !== undefined ? { payloadContains: filter.payloadContains } : {}),
  };
}

const ids = (events: readonly (Event | SeedEvent)[]): string[] => events.map((event) => event.eventId);

const COUNT = 1200;
const events = makeEvents(COUNT);
// The other tenant has events with the very same ids, marked as its own.
const otherEvents = makeEvents(300).map((event) => ({ ...event, payload: { ...event.payload, owner: 'other' } }));
const at = (i: number): bigint => events[i]!.timestampUs;

const FILTERS: [string, ReferenceFilter][] = [
  ['no filter', {}],
  ['a time range (start inclusive, end exclusive)', { startUs: at(300), endUs: at(900) }],
  ['only a start', { startUs: at(1000) }],
  ['only an end', { endUs: at(150) }],
  ['one event type', { eventTypes: ['log'] }],
  ['two event types', { eventTypes: ['trace', 'log'] }],
  ['one service', { serviceNames: ['payments'] }],
  ['two services', { serviceNames: ['checkout', 'auth'] }],
  ['payload_contains with a scalar', { payloadContains: { level: 'error' } }],
  ['payload_contains with a nested object', { payloadContains: { meta: { region: 'eu' } } }],
  ['payload_contains with a list', { payloadContains: { tags: ['even'] } }],
  ['everything combined', { startUs: at(100), endUs: at(1100), eventTypes: ['log', 'metric'], serviceNames: ['checkout', 'search', 'auth'], payloadContains: { level: 'info', meta: { region: 'us' } } }],
];

describe('QueryEvents', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  let otherKey: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
    const tenant = await createTenantWithKey(db.pool, 'acme');
    const other = await createTenantWithKey(db.pool, 'other');
    key = tenant.key;
    otherKey = other.key;
    await seedEvents(db.pool, tenant.tenantId, events);
    await seedEvents(db.pool, other.tenantId, otherEvents);
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  describe('filters', () => {
    test.each(FILTERS)('when filtering by %s, then exactly the matching events come back, newest first', async (_name, filter) => {
      const reference = sortReference(events.filter((event) => matches(event, filter)));
      expect(reference.length).toBeGreaterThan(0);
      const page = await queryEvents(server.query, key, { filter: toProtoFilter(filter), limit: 1000 });
      expect(ids(page.events)).toEqual(ids(reference).slice(0, 1000));
      expect(page.hasMore).toBe(reference.length > 1000);
    });

    test('when an event is returned, then every field is as stored, timestamps exact to the microsecond', async () => {
      const target = events[4]!;
      const page = await queryEvents(server.query, key, { filter: { startTime: timestampOf(target.timestampUs), endTime: timestampOf(target.timestampUs + 1n) } });
      expect(page.events).toHaveLength(3);
      const event = page.events.find((candidate) => candidate.eventId === target.eventId);
      expect(event).toMatchObject({ eventId: target.eventId, eventType: target.eventType, serviceName: target.serviceName, payload: target.payload });
      expect(event!.payloadJson).toBeUndefined();
      expect(microsOf(event!.timestamp)).toBe(target.timestampUs);
      expect(event!.timestamp!.nanos % 1000).toBe(0);
      expect(microsOf(event!.receivedAt)).toBeGreaterThan(BASE_US);
    });

    test('when bounds carry nanoseconds, then they round up to the microsecond: start stays inclusive and end exclusive', async () => {
      const target = events[10]!;
      const sameTime = ids(sortReference(events.filter((event) => event.timestampUs === target.timestampUs)));
      expect(sameTime).toHaveLength(3);
      const only = (startNs: number, endNs: number) =>
        queryEvents(server.query, key, {
          filter: {
            startTime: { ...timestampOf(target.timestampUs), nanos: timestampOf(target.timestampUs).nanos + startNs },
            endTime: { ...timestampOf(target.timestampUs), nanos: timestampOf(target.timestampUs).nanos + endNs },
          },
        });
      expect(ids((await only(0, 1)).events)).toEqual(sameTime);
      expect(ids((await only(1, 2000)).events)).toEqual([]);
      expect(ids((await only(-999, 0)).events)).toEqual([]);
    });

    test('when payload_as_json is set, then payload_json holds the stored JSON text and payload is unset', async () => {
      const page = await queryEvents(server.query, key, { filter: { payloadContains: { n: 7 } }, payloadAsJson: true });
      expect(page.events).toHaveLength(1);
      expect(page.events[0]!.payload).toBeUndefined();
      expect(JSON.parse(page.events[0]!.payloadJson!)).toEqual(events[7]!.payload);
    });

    test('when another tenant queries, then it sees only its own events, even with the same event ids', async () => {
      const all = await walkAllPages(server.query, otherKey, { limit: 1000 });
      expect(all).toHaveLength(otherEvents.length);
      expect(all.every((event) => event.payload?.owner === 'other')).toBe(true);
    });
  });

  describe('cursor pagination', () => {
    test.each([
      ['newest-first', 'no filter', {}],
      ['oldest-first', 'no filter', {}],
      ['newest-first', 'a filter', FILTERS[11]![1]],
      ['oldest-first', 'a filter', FILTERS[11]![1]],
      ['oldest-first', 'one event type', { eventTypes: ['metric'] }],
    ] as [Order, string, ReferenceFilter][])('when walking every page %s with %s, then each event comes exactly once, in order', async (order, _name, filter) => {
      const reference = sortReference(events.filter((event) => matches(event, filter)), order);
      const limit = reference.length > 500 ? 97 : 7;
      const walked = await walkAllPages(server.query, key, { filter: toProtoFilter(filter), order: ORDERS[order], limit });
      expect(ids(walked)).toEqual(ids(reference));
    });

    test('when events share a timestamp across a page boundary, then none is skipped or repeated', async () => {
      // Three events per timestamp and pages of 2: every boundary splits a group.
      const filter = { startUs: at(30), endUs: at(60) };
      const reference = sortReference(events.filter((event) => matches(event, filter)));
      expect(new Set(reference.map((event) => event.timestampUs)).size).toBeLessThan(reference.length);
      expect(ids(await walkAllPages(server.query, key, { filter: toProtoFilter(filter), limit: 2 }))).toEqual(ids(reference));
    });

    test('when another client inserts into the tenant between pages, then every earlier event still comes exactly once, in order', async () => {
      // Direct SQL inserts from another connection stand in for a second client's ingestion.
      const tenant = await db.pool.query<{ id: string }>("SELECT id FROM tenants WHERE name = 'acme'");
      const before = sortReference(events, 'oldest-first');
      let round = 0;
      const walked = await walkAllPages(server.query, key, { order: SortOrder.SORT_ORDER_OLDEST_FIRST, limit: 50 }, async () => {
        round += 1;
        // A page covers about 17 s of events: these land behind the cursor, and ahead of it.
        const behind = makeEvents(3, `late${round}b`, BASE_US + BigInt(round) * 5_000_000n);
        const ahead = makeEvents(3, `late${round}a`, BASE_US + BigInt(round) * 30_000_000n);
        await seedEvents(db.pool, tenant.rows[0]!.id, [...behind, ...ahead]);
      });
      const walkedIds = ids(walked);
      expect(new Set(walkedIds).size).toBe(walkedIds.length);
      const positions = walked.map((event) => [microsOf(event.timestamp), event.eventId] as const);
      for (let i = 1; i < positions.length; i += 1) {
        const [t0, id0] = positions[i - 1]!;
        const [t1, id1] = positions[i]!;
        expect(t0 < t1 || (t0 === t1 && id0 < id1)).toBe(true);
      }
      expect(walkedIds.filter((id) => id.startsWith('evt-'))).toEqual(ids(before));
      expect(walkedIds.some((id) => id.startsWith('late'))).toBe(true);
      await db.pool.query("DELETE FROM events WHERE event_id LIKE 'late%'");
    });

    test('when a page is the last, then has_more is false and next_cursor empty; else next_cursor is URL-safe', async () => {
      const filter = toProtoFilter({ endUs: at(30) });
      const first = await queryEvents(server.query, key, { filter, limit: 29 });
      expect(first.hasMore).toBe(true);
      expect(first.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(first.totalCount).toBe(0);
      const last = await queryEvents(server.query, key, { filter, limit: 10, cursor: first.nextCursor });
      expect(last.events).toHaveLength(1);
      expect(last.hasMore).toBe(false);
      expect(last.nextCursor).toBe('');
      const exact = await queryEvents(server.query, key, { filter, limit: 30 });
      expect(exact.events).toHaveLength(30);
      expect(exact.hasMore).toBe(false);
      expect(exact.nextCursor).toBe('');
    });

    test('when the page size changes between pages, then the cursor still walks on', async () => {
      const first = await queryEvents(server.query, key, { limit: 5 });
      const second = await queryEvents(server.query, key, { limit: 20, cursor: first.nextCursor, payloadAsJson: true });
      expect(ids([...first.events, ...second.events])).toEqual(ids(sortReference(events)).slice(0, 25));
    });
  });

  describe('cursor misuse', () => {
    const filter = { eventTypes: ['log'] };
    let cursor: string;

    beforeAll(async () => {
      cursor = (await queryEvents(server.query, key, { filter, limit: 10 })).nextCursor;
      expect(cursor).not.toBe('');
    });

    const misuses: [string, () => { filter?: Partial<EventFilter>; order?: SortOrder; cursor: string }][] = [
      ['another filter', () => ({ filter: { eventTypes: ['trace'] }, cursor })],
      ['no filter', () => ({ cursor })],
      ['another order', () => ({ filter, order: SortOrder.SORT_ORDER_OLDEST_FIRST, cursor })],
      ['garbage', () => ({ filter, cursor: 'not-a-cursor' })],
      ['characters outside base64url', () => ({ filter, cursor: `${cursor.slice(0, 10)}+/=${cursor.slice(13)}` })],
      ['a truncated cursor', () => ({ filter, cursor: cursor.slice(0, -4) })],
      ['one character changed', () => ({ filter, cursor: `${cursor.slice(0, 30)}${cursor[30] === 'A' ? 'B' : 'A'}${cursor.slice(31)}` })],
      ['bytes appended', () => ({ filter, cursor: `${cursor}AAAA` })],
      ['a huge string', () => ({ filter, cursor: 'A'.repeat(100_000) })],
    ];

    test.each(misuses)('when the cursor is used with %s, then the call is INVALID_ARGUMENT naming cursor', async (_name, request) => {
      const error = await failureOf(queryEvents(server.query, key, request()));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(violatedFields(error)).toEqual(['cursor']);
    });

    test('when a cursor is used with another filter, then the message says so', async () => {
      const error = await failureOf(queryEvents(server.query, key, { filter: { eventTypes: ['trace'] }, cursor }));
      expect(error.details).toMatch(/another filter or order/);
    });

    test("when a tenant sends another tenant's cursor, then it gets INVALID_ARGUMENT, never the other's events", async () => {
      const error = await failureOf(queryEvents(server.query, otherKey, { filter, limit: 10, cursor }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(violatedFields(error)).toEqual(['cursor']);
      const otherCursor = (await queryEvents(server.query, otherKey, { filter, limit: 10 })).nextCursor;
      const reverse = await failureOf(queryEvents(server.query, key, { filter, limit: 10, cursor: otherCursor }));
      expect(reverse.code).toBe(status.INVALID_ARGUMENT);
    });

    test('when cursor and page are both set, then the call is INVALID_ARGUMENT naming both', async () => {
      const error = await failureOf(queryEvents(server.query, key, { filter, cursor, page: 2 }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(violatedFields(error).sort()).toEqual(['cursor', 'page']);
    });
  });

  describe('page pagination', () => {
    test('when reading numbered pages, then they tile the matches in order, each with total_count', async () => {
      const filter = { serviceNames: ['payments', 'search'] };
      const reference = sortReference(events.filter((event) => matches(event, filter)));
      const collected: Event[] = [];
      const pages = Math.ceil(reference.length / 100);
      for (let page = 1; page <= pages; page += 1) {
        const response = await queryEvents(server.query, key, { filter: toProtoFilter(filter), page, limit: 100 });
        expect(response.totalCount).toBe(reference.length);
        expect(response.hasMore).toBe(page < pages);
        collected.push(...response.events);
      }
      expect(ids(collected)).toEqual(ids(reference));
      const beyond = await queryEvents(server.query, key, { filter: toProtoFilter(filter), page: pages + 1, limit: 100 });
      expect(beyond).toMatchObject({ events: [], hasMore: false, nextCursor: '', totalCount: reference.length });
    });

    test('when a numbered page has more after it, then its next_cursor continues from there by cursor', async () => {
      const second = await queryEvents(server.query, key, { page: 2, limit: 10, order: SortOrder.SORT_ORDER_OLDEST_FIRST });
      const third = await queryEvents(server.query, key, { cursor: second.nextCursor, limit: 10, order: SortOrder.SORT_ORDER_OLDEST_FIRST });
      expect(ids(third.events)).toEqual(ids(sortReference(events, 'oldest-first')).slice(20, 30));
    });

    test('when the page is past the max page, then the call is INVALID_ARGUMENT pointing to cursor pagination', async () => {
      expect((await queryEvents(server.query, key, { page: 100, limit: 1 })).events).toHaveLength(1);
      const error = await failureOf(queryEvents(server.query, key, { page: 101, limit: 1 }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(violatedFields(error)).toEqual(['page']);
      expect(error.details).toMatch(/cursor/);
      expect(error.details).toMatch(/QUERY_MAX_PAGE/);
    });
  });

  describe('bad arguments', () => {
    test.each([
      ['a limit over 1000', { limit: 1001 }, 'limit'],
      ['a negative limit', { limit: -1 }, 'limit'],
      ['a negative page', { page: -2 }, 'page'],
      ['an end before the start', { filter: { startTime: { seconds: 2000 }, endTime: { seconds: 1000 } } }, 'filter.end_time'],
      ['a start with nanos out of range', { filter: { startTime: { seconds: 1, nanos: 1_000_000_000 } } }, 'filter.start_time'],
      ['an unknown order', { order: 7 as SortOrder }, 'order'],
      ['a payload_contains over the size limit', { filter: { payloadContains: { big: 'x'.repeat(5000) } } }, 'filter.payload_contains'],
      ['a payload_contains nested too deep', { filter: { payloadContains: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } } }, 'filter.payload_contains'],
      ['an empty event type', { filter: { eventTypes: [''] } }, 'filter.event_types'],
      ['too many service names', { filter: { serviceNames: Array.from({ length: 101 }, (_, i) => `s${i}`) } }, 'filter.service_names'],
    ] as [string, Parameters<typeof queryEvents>[2], string][])('when the request has %s, then it is INVALID_ARGUMENT naming the field', async (_name, request, field) => {
      const error = await failureOf(queryEvents(server.query, key, request));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(violatedFields(error)).toEqual([field]);
    });

    test('when the limit is 0, then a page holds the default 100 events', async () => {
      expect((await queryEvents(server.query, key, {})).events).toHaveLength(100);
    });

    test('when end equals start, then the range is empty', async () => {
      const page = await queryEvents(server.query, key, { filter: { startTime: timestampOf(at(5)), endTime: timestampOf(at(5)) } });
      expect(page.events).toEqual([]);
    });
  });
});
