import { status, type ServiceError } from '@grpc/grpc-js';
import { ErrorInfo } from '../../src/gen/google/rpc/error_details';
import { Status } from '../../src/gen/google/rpc/status';
import { IngestRequest } from '../../src/gen/telemetry/v1/ingest_service';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { QueryEventsRequest, QueryEventsResponse, SortOrder, StreamEventsRequest, StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import { EventValidator } from '../../src/domain/ingest/event-validator';
import { FuzzClient } from '../../scripts/fuzz/fuzz-client';
import { createTenantWithKey, ingestUnary, makeEvent, storedEvents } from '../support/ingest-calls';
import { random, randomObject } from '../support/random-json';
import { streamWith } from '../support/refusal';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, withKey, type TestServer } from '../support/test-server';

const KiB = 1024;

function reasonOf(error: ServiceError | undefined): string | undefined {
  const bytes = error?.metadata?.get('grpc-status-details-bin')[0];
  if (!(bytes instanceof Buffer)) return undefined;
  const info = Status.decode(bytes).details.find((detail) => detail.typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo');
  return info === undefined ? undefined : ErrorInfo.decode(info.value).reason;
}

/**
 * Issue 10: payload limits apply to what PostgreSQL stores (jsonb prints
 * numbers in full), a stored row too large for a response fails only its own
 * call, and no response is larger than GRPC_MAX_RESPONSE_BYTES.
 */
describe('stored payload bounds and response sizes', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db.drop();
  });

  describe('at ingest, with the default limits', () => {
    let server: TestServer;
    let key: string;
    let tenantId: string;

    beforeAll(async () => {
      server = await startTestServer(db.url);
      ({ key, tenantId } = await createTenantWithKey(db.pool, 'stored-form'));
    });

    afterAll(async () => {
      await server.stop();
    });

    test('when payload_json holds numbers that jsonb prints in full (4200 x 1e131071, 37 KB as sent; 20 x 1e131071, 187 bytes), numbers outside the double range (1e400, -1e400, 1e-400) or a Struct of 300 x 1e300, then each event is rejected with a reason naming the limit, its neighbours are stored, and reading the tenant back works', async () => {
      const many = (count: number, value: string) => `{"a":[${Array(count).fill(value).join(',')}]}`;
      const bad: [Event, RegExp][] = [
        [makeEvent({ eventId: 'expands-37kb', payloadJson: many(4200, '1e131071') }), /double range/],
        [makeEvent({ eventId: 'expands-187b', payloadJson: many(20, '1e131071') }), /double range/],
        [makeEvent({ eventId: 'in-range-but-large', payloadJson: many(300, '1e300') }), /would take more than 65536 bytes as stored .*INGEST_MAX_PAYLOAD_BYTES/],
        [makeEvent({ eventId: 'too-large', payloadJson: '{"n":1e400}' }), /^payload_json has a number outside the IEEE-754 double range .*: 1e400$/],
        [makeEvent({ eventId: 'too-large-negative', payloadJson: '{"n":-1e400}' }), /double range/],
        [makeEvent({ eventId: 'too-small', payloadJson: '{"n":1e-400}' }), /double range/],
        [makeEvent({ eventId: 'struct-expands', payloadJson: undefined, payload: { a: Array(300).fill(1e300) } }), /^payload would take more than 65536 bytes as stored/],
      ];
      expect(Buffer.byteLength(bad[0]![0].payloadJson!)).toBeGreaterThan(37_000);
      expect(Buffer.byteLength(bad[1]![0].payloadJson!)).toBe(187);
      const good = [makeEvent({ eventId: 'good-1', payloadJson: '{"n":1e300,"m":-4.9e-324}' }), makeEvent({ eventId: 'good-2' })];
      const result = await ingestUnary(server.ingest, withKey(key), IngestRequest.fromPartial({ events: [good[0]!, ...bad.map(([event]) => event), good[1]!] }));
      expect(result.error).toBeUndefined();
      expect(result.response!.accepted).toBe(2);
      expect(result.response!.rejected).toBe(bad.length);
      const reasons = new Map(result.response!.rejectedEvents.map((rejected) => [rejected.eventId, rejected.reason]));
      for (const [event, reason] of bad) expect(reasons.get(event.eventId)).toMatch(reason);
      expect((await storedEvents(db.pool, tenantId)).map((row) => row.event_id).sort()).toEqual(['good-1', 'good-2']);

      const page = await new Promise<QueryEventsResponse>((resolve, reject) =>
        server.query.queryEvents(QueryEventsRequest.fromPartial({ limit: 10, payloadAsJson: true }), withKey(key), (error, response) => (error ? reject(error) : resolve(response!))),
      );
      const stored = page.events.find((event) => event.eventId === 'good-1')!;
      expect(stored.payloadJson).toBe(`{"m": -${'0.'.padEnd(325, '0')}49, "n": 1${'0'.repeat(300)}}`);
    });

    test('when JSON texts of every kind (random objects, whitespace, escapes, exponents) are validated with the limit set to exactly their size as PostgreSQL stores them, then each passes, and each fails at one byte less', async () => {
      const next = random(1010);
      const texts = [
        ...Array.from({ length: 60 }, () => JSON.stringify(randomObject(next, 0))),
        '{ "b" : [1, 2.50, 1e3, -1.5E+2, 2e-3] ,"a":"x\\/y\\u00e9\\u0041\\n\\u0001\\ud83d\\ude00" }',
        '{"n":[1.7976931348623157e308,4.9e-324,-2.2250738585072014e-308,0.5e1,12e-1]}',
        `{"long":"${'日本'.repeat(500)}","emoji":"${'\u{1F600}'.repeat(100)}"}`,
      ];
      for (const text of texts) {
        const result = await db.pool.query<{ bytes: number }>('SELECT octet_length($1::jsonb::text) AS bytes', [text]);
        const bytes = result.rows[0]!.bytes;
        const at = new EventValidator({ maxPayloadBytes: bytes, maxPayloadDepth: 1000, maxFutureSkewMs: 600_000 }).validate(makeEvent({ payloadJson: text }));
        const under = new EventValidator({ maxPayloadBytes: bytes - 1, maxPayloadDepth: 1000, maxFutureSkewMs: 600_000 }).validate(makeEvent({ payloadJson: text }));
        expect([text.slice(0, 60), typeof at]).toEqual([text.slice(0, 60), 'object']);
        expect([text.slice(0, 60), under]).toEqual([text.slice(0, 60), expect.stringMatching(/would take more than/)]);
      }
    });
  });

  describe('on reads: a small GRPC_MAX_RESPONSE_BYTES, and a row stored before the bound', () => {
    const MAX_RESPONSE = 256 * KiB;
    let server: TestServer;
    let fuzz: FuzzClient;
    let key: string;
    let tenantId: string;
    let other: { key: string; tenantId: string };

    beforeAll(async () => {
      server = await startTestServer(db.url, { GRPC_MAX_RESPONSE_BYTES: '256KiB', INGEST_MAX_PAYLOAD_BYTES: '16KiB' });
      fuzz = new FuzzClient(server.address);
      ({ key, tenantId } = await createTenantWithKey(db.pool, 'pages'));
      other = await createTenantWithKey(db.pool, 'bystander');
      const base = Math.floor(Date.now() / 1000) - 3600;
      // 60 events with payloads near 16 KiB stored: as payload_json ~16 KiB each, as a Struct (4000 zeros) ~44 KiB each.
      const events = Array.from({ length: 60 }, (_, i) =>
        makeEvent({ eventId: `big-${String(i).padStart(2, '0')}`, timestamp: { seconds: base + i, nanos: 0 }, payloadJson: JSON.stringify({ i, zeros: Array(4000).fill(0) }) }),
      );
      for (let i = 0; i < events.length; i += 20) {
        const result = await ingestUnary(server.ingest, withKey(key), IngestRequest.fromPartial({ events: events.slice(i, i + 20) }));
        expect(result.response?.accepted).toBe(20);
      }
      await ingestUnary(server.ingest, withKey(other.key), IngestRequest.fromPartial({ events: [makeEvent({ eventId: 'bystander-1' })] }));
    });

    afterAll(async () => {
      fuzz.close();
      await server.stop();
    });

    const queryBytes = (request: Partial<QueryEventsRequest>) => fuzz.call('QueryEvents', [QueryEventsRequest.encode(QueryEventsRequest.fromPartial(request)).finish()], [['x-api-key', key]], 20_000);

    test.each([
      ['payload_json', true],
      ['a Struct payload', false],
    ])('when pages of 100 of those events are read with %s, then every page is at most GRPC_MAX_RESPONSE_BYTES, ends early with has_more, and following next_cursor yields every event once, in order', async (_name, payloadAsJson) => {
      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor = '';
      for (let pages = 0; pages < 100; pages++) {
        const result = await queryBytes({ limit: 100, cursor, payloadAsJson, order: SortOrder.SORT_ORDER_OLDEST_FIRST });
        expect(result.outcome).toBe('OK');
        const bytes = result.responses[0]!;
        sizes.push(bytes.length);
        const page = QueryEventsResponse.decode(bytes);
        seen.push(...page.events.map((event) => event.eventId));
        if (!page.hasMore) break;
        expect(page.events.length).toBeLessThan(100);
        cursor = page.nextCursor;
      }
      expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => `big-${String(i).padStart(2, '0')}`));
      expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_RESPONSE);
      expect(sizes.length).toBeGreaterThanOrEqual(payloadAsJson ? 3 : 10);
    });

    test('when StreamEvents reads those events as a Struct, then each chunk message is at most GRPC_MAX_RESPONSE_BYTES and every event comes once', async () => {
      const result = await fuzz.call('StreamEvents', [StreamEventsRequest.encode(StreamEventsRequest.fromPartial({ order: SortOrder.SORT_ORDER_OLDEST_FIRST })).finish()], [['x-api-key', key]], 20_000);
      expect(result.outcome).toBe('OK');
      expect(Math.max(...result.responses.map((bytes) => bytes.length))).toBeLessThanOrEqual(MAX_RESPONSE);
      expect(result.responses.length).toBeGreaterThan(10);
      expect(result.responses.flatMap((bytes) => StreamEventsResponse.decode(bytes).events.map((event) => event.eventId))).toHaveLength(60);
    });

    test('when a row larger than any response was stored before the bound (6.5 MB as text), then a page or stream that reaches it fails alone with FAILED_PRECONDITION STORED_EVENT_UNSERVABLE naming it, the events before it are served, a filter that skips it works, and other tenants never notice', async () => {
      // Older than the 60 events: newest first, it comes after them.
      const at = new Date(Date.now() - 7200_000);
      await db.pool.query(
        `INSERT INTO events (tenant_id, event_id, "timestamp", event_type, service_name, payload)
         SELECT $1, 'stored-too-large', $2, 'log', 'legacy', jsonb_build_object('a', jsonb_agg('1e131071'::numeric)) FROM generate_series(1, 50)`,
        [tenantId, at],
      );
      const newestFirst = await new Promise<{ error?: ServiceError; response?: QueryEventsResponse }>((resolve) =>
        server.query.queryEvents(QueryEventsRequest.fromPartial({ limit: 100 }), withKey(key), (error, response) => resolve({ error: error ?? undefined, response })),
      );
      // Newest first, the row comes after the 60 events: the pages before it are served.
      expect(newestFirst.error).toBeUndefined();
      let cursor = newestFirst.response!.nextCursor;
      let failure: ServiceError | undefined;
      for (let pages = 0; pages < 50 && failure === undefined; pages++) {
        const next = await new Promise<{ error?: ServiceError; response?: QueryEventsResponse }>((resolve) =>
          server.query.queryEvents(QueryEventsRequest.fromPartial({ limit: 100, cursor }), withKey(key), (error, response) => resolve({ error: error ?? undefined, response })),
        );
        failure = next.error;
        cursor = next.response?.nextCursor ?? '';
      }
      expect(failure?.code).toBe(status.FAILED_PRECONDITION);
      expect(reasonOf(failure)).toBe('STORED_EVENT_UNSERVABLE');
      expect(failure?.details).toMatch(/"stored-too-large".*GRPC_MAX_RESPONSE_BYTES, 262144 bytes/);

      for (const payloadAsJson of [true, false]) {
        const streamed = await fuzz.call('StreamEvents', [StreamEventsRequest.encode(StreamEventsRequest.fromPartial({ payloadAsJson })).finish()], [['x-api-key', key]], 20_000);
        expect(streamed.outcome).toBe('FAILED_PRECONDITION');
        expect(streamed.details).toContain('stored-too-large');
        // Newest first: the 60 events after it (in time) were sent before the failure.
        expect(streamed.responses.flatMap((bytes) => StreamEventsResponse.decode(bytes).events.map((event) => event.eventId))).toHaveLength(60);
      }

      const skipping = await new Promise<QueryEventsResponse>((resolve, reject) =>
        server.query.queryEvents(
          QueryEventsRequest.fromPartial({ limit: 10, filter: { serviceNames: ['checkout'] } }),
          withKey(key),
          (error, response) => (error ? reject(error) : resolve(response!)),
        ),
      );
      expect(skipping.events.length).toBeGreaterThan(0);
      const bystander = await streamWith(server.query, withKey(other.key));
      expect(bystander.error).toBeUndefined();
      expect(bystander.response!.flatMap((message) => message.events.map((event) => event.eventId))).toEqual(['bystander-1']);
    });
  });

  test('when GRPC_MAX_RESPONSE_BYTES cannot carry one event of INGEST_MAX_PAYLOAD_BYTES, then the server does not start and the message names both', async () => {
    await expect(startTestServer(db.url, { GRPC_MAX_RESPONSE_BYTES: '1MiB', INGEST_MAX_PAYLOAD_BYTES: '512KiB' })).rejects.toThrow(
      /GRPC_MAX_RESPONSE_BYTES \(1048576 bytes\) is too small for INGEST_MAX_PAYLOAD_BYTES \(524288 bytes\)/,
    );
  });
});
