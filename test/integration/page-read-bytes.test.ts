import { Event } from '../../src/gen/telemetry/v1/event';
import { QueryEventsResponse, StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import type { EventSelection, PageWindow } from '../../src/domain/query/event-reader';
import { EventQueryRepository } from '../../src/storage/event-query-repository';
import { createTenantWithKey } from '../support/ingest-calls';
import { streamEvents, walkAllPages } from '../support/query-fixtures';
import { BASE_US, seedEvents, type SeedEvent } from '../support/seed-events';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * A page reads at most about what its response can carry (PageWindow.maxBytes,
 * set by QueryService from GRPC_MAX_RESPONSE_BYTES): before, every page read
 * all its `limit` + 1 rows, so a page of 1000 events of 60 KB read and parsed
 * ~60 MB for the ~70 events one 4 MiB response carries.
 */
const COUNT = 40;
/** Each payload is {"blob": "<BLOB x>"} (12 bytes around it as jsonb prints it). */
const BLOB = 10_000;
const PAYLOAD_BYTES = BLOB + 12;

function bigEvents(prefix: string): SeedEvent[] {
  return Array.from({ length: COUNT }, (_, i) => ({
    eventId: `${prefix}-${String(i).padStart(3, '0')}`,
    timestampUs: BASE_US + BigInt(i) * 1_000_000n,
    eventType: 'log',
    serviceName: 'svc',
    payload: { blob: String.fromCharCode(97 + (i % 26)).repeat(BLOB) },
  }));
}

describe('pages read about a response of payload bytes, not limit rows', () => {
  let db: TestDatabase;
  let tenantId: string;
  let key: string;
  let repository: EventQueryRepository;
  const budget = { timeoutMs: 10_000, signal: new AbortController().signal };
  const selection = (order: EventSelection['order']): EventSelection => ({
    tenantId,
    filter: { startUs: undefined, endUs: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined },
    order,
  });
  const window = (overrides: Partial<PageWindow>): PageWindow => ({ limit: 1001, payloadAsJson: true, countTotal: false, ...overrides });

  beforeAll(async () => {
    db = await createTestDatabase();
    ({ tenantId, key } = await createTenantWithKey(db.pool, 'page-read-bytes'));
    await seedEvents(db.pool, tenantId, bigEvents('big'));
    repository = new EventQueryRepository(db.pool, 10_000, 64 * 1024);
  });

  afterAll(async () => {
    await db.drop();
  });

  test('when the payloads pass maxBytes before the limit, then the rows stop after the first that reaches it, whole and in order, and the page says more follow', async () => {
    // 0, 10 012, 20 024 and 30 036 bytes come before the first four rows: all under 35 000; the fifth's 40 048 is not.
    const oldest = await repository.readPage(selection('oldest-first'), window({ maxBytes: 35_000 }), budget);
    expect(oldest.truncated).toBe(true);
    expect(oldest.events.map((event) => event.eventId)).toEqual(['big-000', 'big-001', 'big-002', 'big-003']);
    expect(oldest.events.map((event) => Buffer.byteLength(event.payloadJson!))).toEqual(Array(4).fill(PAYLOAD_BYTES));
    expect(JSON.parse(oldest.events[3]!.payloadJson!)).toEqual({ blob: 'd'.repeat(BLOB) });

    const newest = await repository.readPage(selection('newest-first'), window({ maxBytes: 35_000, payloadAsJson: false }), budget);
    expect(newest.truncated).toBe(true);
    expect(newest.events.map((event) => event.eventId)).toEqual(['big-039', 'big-038', 'big-037', 'big-036']);
    expect(newest.events[0]!.payload).toEqual({ blob: 'n'.repeat(BLOB) });

    // The next read goes on after the last row returned.
    const next = await repository.readPage(selection('oldest-first'), window({ maxBytes: 35_000, after: { timestampUs: oldest.events[3]!.timestampUs, eventId: 'big-003' } }), budget);
    expect(next.events.map((event) => event.eventId)).toEqual(['big-004', 'big-005', 'big-006', 'big-007']);
  });

  test('when one payload alone is larger than maxBytes, then it still comes (a page always has its first event); when the limit or the end comes first, then nothing is truncated', async () => {
    const one = await repository.readPage(selection('oldest-first'), window({ maxBytes: 100 }), budget);
    expect(one.events.map((event) => event.eventId)).toEqual(['big-000']);
    expect(one.events[0]!.payloadJson).toBeDefined();
    expect(one.truncated).toBe(true);

    const limited = await repository.readPage(selection('oldest-first'), window({ maxBytes: 1_000_000, limit: 5 }), budget);
    expect(limited.events).toHaveLength(5);
    expect(limited.truncated).toBe(false);

    const all = await repository.readPage(selection('oldest-first'), window({ maxBytes: 1_000_000 }), budget);
    expect(all.events).toHaveLength(COUNT);
    expect(all.truncated).toBe(false);
    // Without maxBytes every row of the limit is read, as before.
    expect((await repository.readPage(selection('oldest-first'), window({}), budget)).events).toHaveLength(COUNT);
  });

  describe('through QueryEvents, with 64 KiB responses', () => {
    const MAX_RESPONSE = 64 * 1024;
    let server: TestServer;
    let numbersKey: string;
    let mixedKey: string;
    let mixedIds: string[];

    beforeAll(async () => {
      server = await startTestServer(db.url, { GRPC_MAX_RESPONSE_BYTES: String(MAX_RESPONSE), INGEST_MAX_PAYLOAD_BYTES: String(12 * 1024) });
      // jsonb prints 1e-30 in full (32 characters, 34 with its separator); a Struct carries it in 11 bytes: a page's
      // reads run out of text bytes (twice a response) while everything read still fits in the response.
      const numbers = await createTenantWithKey(db.pool, 'page-read-bytes-numbers');
      numbersKey = numbers.key;
      await seedEvents(db.pool, numbers.tenantId, bigEvents('num').map((event) => ({ ...event, payload: { n: Array(300).fill(1e-30) } })));
      // 300 small events, then the 40 large ones: a stream's read sized by the small ones runs out of bytes.
      const mixed = await createTenantWithKey(db.pool, 'page-read-bytes-mixed');
      mixedKey = mixed.key;
      const small = Array.from({ length: 300 }, (_, i): SeedEvent => ({ eventId: `small-${String(i).padStart(3, '0')}`, timestampUs: BASE_US - 1_000_000_000n + BigInt(i), eventType: 'log', serviceName: 'svc', payload: { i } }));
      await seedEvents(db.pool, mixed.tenantId, [...small, ...bigEvents('big')]);
      mixedIds = [...small, ...bigEvents('big')].map((event) => event.eventId);
    });

    afterAll(async () => {
      await server?.stop();
    });

    test.each([
      ['payload_as_json', true],
      ['Struct payloads', false],
    ])('when limit 1000 pages are walked with %s, then every event comes once, in order, and each page but the last is as full as a response allows', async (_name, payloadAsJson) => {
      const pages: QueryEventsResponse[] = [];
      const events = await walkAllPages(server.query, key, { limit: 1000, order: 2, payloadAsJson }, async (page) => void pages.push(page));
      expect(events.map((event) => event.eventId)).toEqual(bigEvents('big').map((event) => event.eventId));
      expect(pages.length).toBeGreaterThan(1);
      for (const page of pages.slice(0, -1)) {
        const bytes = QueryEventsResponse.encode(page).finish().length;
        // Full: one more of these events would not have fitted.
        const one = Event.encode(page.events[0]!).finish().length + 3;
        expect(bytes).toBeLessThanOrEqual(MAX_RESPONSE);
        expect(bytes + one).toBeGreaterThan(MAX_RESPONSE - 64);
      }
    });

    test.each([
      ['payload_as_json', true],
      ['Struct payloads', false],
    ])('when a StreamEvents read sized by small events reaches large ones (%s), then it stops at its bytes and the stream goes on: every event once, in order', async (_name, payloadAsJson) => {
      const chunks = await streamEvents(server.query, mixedKey, { order: 2, payloadAsJson });
      expect(chunks.flatMap((chunk) => chunk.events.map((event) => event.eventId))).toEqual(mixedIds);
      for (const chunk of chunks) expect(StreamEventsResponse.encode(chunk).finish().length).toBeLessThanOrEqual(MAX_RESPONSE);
    });

    test('when Struct payloads take less than half their stored text, then a page ends where its read ran out of bytes, says more follow, and walking the pages still gets every event once', async () => {
      const pages: QueryEventsResponse[] = [];
      const events = await walkAllPages(server.query, numbersKey, { limit: 1000, order: 2 }, async (page) => void pages.push(page));
      expect(events.map((event) => event.eventId)).toEqual(bigEvents('num').map((event) => event.eventId));
      expect(events[0]!.payload).toEqual({ n: Array(300).fill(1e-30) });
      // Pages ended by the read's bytes, not by the response's: each well under it.
      expect(pages.length).toBeGreaterThan(1);
      for (const page of pages.slice(0, -1)) expect(QueryEventsResponse.encode(page).finish().length).toBeLessThan(MAX_RESPONSE * 0.9);
    });
  });
});
