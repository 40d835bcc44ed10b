import http2 from 'node:http2';
import { IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
import { AggregateResponse, QueryEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import { eventBytes, ingestMessage, validEvent } from '../../scripts/fuzz/event-bytes';
import type { FuzzRpc } from '../../scripts/fuzz/fuzz-case';
import { FuzzClient } from '../../scripts/fuzz/fuzz-client';
import { concat, deepStruct, lengthDelimited, secondsNanos, varintField } from '../../scripts/fuzz/wire-bytes';
import { createTenantWithKey, storedEvents } from '../support/ingest-calls';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, type TestServer } from '../support/test-server';

/** Regressions for what the fuzz test (fuzz.test.ts) found; each test names what the server did before. */
describe('bad input the fuzzing found', () => {
  let db: TestDatabase;
  let server: TestServer;
  let client: FuzzClient;
  let key: string;
  let tenantId: string;
  const now = Math.floor(Date.now() / 1000);
  const INT64_MAX = 2n ** 63n - 1n;
  const FIRST_SECOND = -62_135_596_800;

  beforeAll(async () => {
    db = await createTestDatabase();
    // INGEST_MAX_PAYLOAD_DEPTH as an operator whose clients read payload_json may raise it: the
    // default (32) is below where ts-proto's decoder gave up, and the regression needs a payload above.
    server = await startTestServer(db.url, { QUERY_PAYLOAD_CONTAINS_MAX_DEPTH: '64', INGEST_MAX_PAYLOAD_DEPTH: '100' });
    client = new FuzzClient(server.address);
    ({ key, tenantId } = await createTenantWithKey(db.pool, 'regressions'));
  });

  afterAll(async () => {
    client.close();
    await server.stop();
    await db.drop();
  });

  const call = (rpc: FuzzRpc, message: Uint8Array) => client.call(rpc, [message], [['x-api-key', key]], 20_000);

  test('when INGEST_MAX_PAYLOAD_DEPTH is 100 and one ingest message holds a Struct payload 50 levels deep, one 10 000 levels deep, an event with INT64_MAX timestamp seconds and a plain event, then the two valid ones are stored and the two bad ones rejected alone (the whole message was INVALID_ARGUMENT)', async () => {
    const message = ingestMessage([
      eventBytes(validEvent('reg-deep-50', now, { payloadJson: undefined, payload: deepStruct(50) })),
      eventBytes(validEvent('reg-deep-10000', now, { payloadJson: undefined, payload: deepStruct(10_000) })),
      eventBytes(validEvent('reg-int64-seconds', now, { timestamp: { seconds: INT64_MAX, nanos: 0 } })),
      eventBytes(validEvent('reg-plain', now)),
    ]);
    const result = await call('Ingest', message);
    expect(result.outcome).toBe('OK');
    const response = IngestResponse.decode(result.responses[0]!);
    expect({ accepted: response.accepted, rejected: response.rejected }).toEqual({ accepted: 2, rejected: 2 });
    expect(response.rejectedEvents.map((event) => [event.eventId, event.reason])).toEqual([
      ['reg-deep-10000', 'payload nests objects and arrays more than 100 levels deep (the limit is 100)'],
      ['reg-int64-seconds', 'timestamp must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z'],
    ]);
    expect((await storedEvents(db.pool, tenantId)).map((row) => row.event_id)).toEqual(expect.arrayContaining(['reg-deep-50', 'reg-plain']));
  });

  test('when Aggregate\'s bucket is 2^53 - 1 seconds (past google.protobuf.Duration\'s range), then it is INVALID_ARGUMENT naming bucket (it was INTERNAL: an integer overflow in SQL)', async () => {
    const result = await call('Aggregate', lengthDelimited(3, secondsNanos(2n ** 53n - 1n, 0)));
    expect(result.outcome).toBe('INVALID_ARGUMENT');
    expect(result.badRequestFields).toEqual(['bucket']);
  });

  test('when an event is at 0001-01-01 and Aggregate buckets by 7 days or by 10 000 years, then its bucket starts at 0001-01-01 (it was 1 BC, outside Timestamp\'s range, and INTERNAL for 10 000 years)', async () => {
    const stored = await call('Ingest', ingestMessage([eventBytes(validEvent('reg-year-one', now, { timestamp: { seconds: FIRST_SECOND, nanos: 0 } }))]));
    expect(IngestResponse.decode(stored.responses[0]!).accepted).toBe(1);
    // Only the year-one event: an end_time in year 2 keeps the other tests' events out.
    const filter = lengthDelimited(1, lengthDelimited(2, secondsNanos(FIRST_SECOND + 366 * 86_400, 0)));
    for (const seconds of [7 * 86_400, 315_576_000_000]) {
      const result = await call('Aggregate', concat([filter, lengthDelimited(3, secondsNanos(seconds, 0))]));
      expect(result.outcome).toBe('OK');
      expect(AggregateResponse.decode(result.responses[0]!).rows).toEqual([{ eventType: '', serviceName: '', bucketStart: { seconds: FIRST_SECOND, nanos: 0 }, count: 1 }]);
    }
  });

  test('when end_time is the last nanosecond of 9999, then QueryEvents answers OK (it was INTERNAL: the bound, rounded up to year 10000, reached PostgreSQL as "+010000-...")', async () => {
    const filter = lengthDelimited(1, concat([lengthDelimited(1, secondsNanos(now - 3600, 0)), lengthDelimited(2, secondsNanos(253_402_300_799, 999_999_999))]));
    // payload_as_json: the 50-level Struct stored above is more than ts-proto's decoder reads back as a Struct.
    const result = await call('QueryEvents', concat([filter, varintField(6, 1)]));
    expect(result.outcome).toBe('OK');
    expect(QueryEventsResponse.decode(result.responses[0]!).events.map((event) => event.eventId)).toEqual(expect.arrayContaining(['reg-plain']));
  });

  test('when a filter time, max_events or a bucket is past 2^53, then the call is INVALID_ARGUMENT with a BadRequest naming the field (it named only the message type)', async () => {
    const cases: [FuzzRpc, Uint8Array, string][] = [
      ['QueryEvents', lengthDelimited(1, lengthDelimited(1, secondsNanos(INT64_MAX, 0))), 'filter.start_time'],
      ['Aggregate', lengthDelimited(1, lengthDelimited(2, secondsNanos(-(2n ** 60n), 0))), 'filter.end_time'],
      ['StreamEvents', varintField(3, INT64_MAX), 'max_events'],
      ['Aggregate', lengthDelimited(3, secondsNanos(INT64_MAX, 0)), 'bucket'],
    ];
    for (const [rpc, message, field] of cases) {
      const result = await call(rpc, message);
      expect([rpc, result.outcome, result.badRequestFields]).toEqual([rpc, 'INVALID_ARGUMENT', [field]]);
    }
  });

  test('when QUERY_PAYLOAD_CONTAINS_MAX_DEPTH is 64 and payload_contains nests 40 levels, then QueryEvents serves it (the decoder refused anything past 32 levels)', async () => {
    const result = await call('QueryEvents', lengthDelimited(1, lengthDelimited(5, deepStruct(40))));
    expect(result.outcome).toBe('OK');
  });

  test.each(['xyz', '', '1x', 'S'])('when grpc-timeout is %j (not a timeout), then the call is INVALID_ARGUMENT naming grpc-timeout (grpc-js answered INTERNAL, which promises a server bug)', async (timeout) => {
    const result = await client.call('Ingest', [ingestMessage([eventBytes(validEvent('timeout-case', now))])], [['x-api-key', key], ['grpc-timeout', timeout]], 20_000, true);
    expect(result.outcome).toBe('INVALID_ARGUMENT');
    expect(result.details).toContain('grpc-timeout');
    expect(result.badRequestFields).toEqual(['grpc-timeout']);
  });

  test('when a message is flagged gzip-compressed but its bytes are not gzip, then grpc-js ends the call with INTERNAL "Failed to decompress" before any server code runs (the documented limitation: no interceptor or option reaches it), and the server goes on serving', async () => {
    const session = http2.connect(`http://${server.address}`);
    session.on('error', () => undefined);
    const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve) => {
      const stream = session.request({ ':method': 'POST', ':path': '/telemetry.v1.IngestService/Ingest', 'content-type': 'application/grpc', te: 'trailers', 'grpc-encoding': 'gzip', 'x-api-key': key });
      let received: http2.IncomingHttpHeaders = {};
      stream.on('response', (headers) => (received = { ...received, ...headers }));
      stream.on('trailers', (headers) => (received = { ...received, ...headers }));
      stream.on('error', () => undefined);
      stream.on('close', () => resolve(received));
      const garbage = Buffer.from('definitely not gzip');
      const frame = Buffer.alloc(5 + garbage.length);
      frame.writeUInt8(1, 0);
      frame.writeUInt32BE(garbage.length, 1);
      garbage.copy(frame, 5);
      stream.end(frame);
    });
    session.close();
    expect(trailers['grpc-status']).toBe('13');
    expect(decodeURIComponent(String(trailers['grpc-message']))).toMatch(/decompress/i);
    const after = await call('Ingest', ingestMessage([eventBytes(validEvent('after-gzip', now))]));
    expect(after.outcome).toBe('OK');
  });
});
