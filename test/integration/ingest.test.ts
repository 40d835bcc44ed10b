import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, withKey, type TestServer } from '../support/test-server';
import { contractIngestClient, createTenantWithKey, ingestStream, ingestUnary, makeEvent, storedEvents } from '../support/ingest-calls';

describe('ingestion', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  let tenantId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    // A small batch size so that streams here span several batches (and transactions).
    server = await startTestServer(db.url, { INGEST_BATCH_SIZE: '7' });
    ({ key, tenantId } = await createTenantWithKey(db.pool, 'acme'));
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  test('when a stream of several messages is sent, then every event is stored exactly and counted as accepted', async () => {
    const { key: ownKey, tenantId: ownTenant } = await createTenantWithKey(db.pool, 'exact');
    const events = Array.from({ length: 30 }, (_, i) =>
      makeEvent({ eventId: `exact-${String(i).padStart(2, '0')}`, eventType: i % 2 ? 'metric' : 'log', serviceName: `svc-${i % 3}`, payloadJson: JSON.stringify({ i, tags: ['a', i] }) }),
    );
    const messages = [events.slice(0, 10), events.slice(10, 11), [], events.slice(11, 30)].map((chunk) => ({ events: chunk }));
    const result = await ingestStream(server.ingest, withKey(ownKey), messages);
    expect(result.error).toBeUndefined();
    expect(result.response).toEqual({ accepted: 30, duplicates: 0, rejected: 0, rejectedEvents: [] });

    const rows = await storedEvents(db.pool, ownTenant);
    expect(rows).toHaveLength(30);
    for (const [i, row] of rows.entries()) {
      const sent = events[i]!;
      expect(row.event_id).toBe(sent.eventId);
      expect(row.event_type).toBe(sent.eventType);
      expect(row.service_name).toBe(sent.serviceName);
      expect(row.payload).toEqual(JSON.parse(sent.payloadJson!));
      expect(row.timestamp.getTime()).toBe(sent.timestamp!.seconds * 1000 + Math.floor(sent.timestamp!.nanos / 1e6));
    }

    const again = await ingestStream(server.ingest, withKey(ownKey), messages);
    expect(again.response).toEqual({ accepted: 0, duplicates: 30, rejected: 0, rejectedEvents: [] });
    expect(await storedEvents(db.pool, ownTenant)).toHaveLength(30);
  });

  test('when one stream carries the same event_id several times, then it is stored once and the copies count as duplicates', async () => {
    const first = makeEvent({ payloadJson: '{"copy":1}' });
    const copy = { ...first, payloadJson: '{"copy":2}' };
    const other = makeEvent();
    // The copies fall into the same batch and into later batches (batch size 7).
    const messages = [{ events: [first, copy, other] }, { events: Array.from({ length: 9 }, () => copy) }];
    const result = await ingestStream(server.ingest, withKey(key), messages);
    expect(result.response).toMatchObject({ accepted: 2, duplicates: 10, rejected: 0 });
    const rows = (await storedEvents(db.pool, tenantId)).filter((row) => row.event_id === first.eventId);
    expect(rows.map((row) => row.payload)).toEqual([{ copy: 1 }]);
  });

  test('when a unary Ingest is sent, then its events are stored and the counts answer it', async () => {
    const events = [makeEvent(), makeEvent(), makeEvent()];
    const result = await ingestUnary(server.ingest, withKey(key), { events: [...events, events[0]!] });
    expect(result.response).toEqual({ accepted: 3, duplicates: 1, rejected: 0, rejectedEvents: [] });
    const ids = new Set((await storedEvents(db.pool, tenantId)).map((row) => row.event_id));
    for (const event of events) expect(ids.has(event.eventId)).toBe(true);
  });

  test('when an event carries a Struct payload, then it is stored as the same JSON object', async () => {
    const payload = { level: 'warn', count: 3, ratio: 0.25, ok: true, nothing: null, nested: { list: [1, 'two', { three: 3 }] } };
    const event = makeEvent({ payloadJson: undefined, payload });
    const noPayload = makeEvent({ payloadJson: undefined, payload: undefined });
    const result = await ingestUnary(server.ingest, withKey(key), { events: [event, noPayload] });
    expect(result.response).toMatchObject({ accepted: 2, rejected: 0 });
    const rows = await storedEvents(db.pool, tenantId);
    expect(rows.find((row) => row.event_id === event.eventId)?.payload).toEqual(payload);
    expect(rows.find((row) => row.event_id === noPayload.eventId)?.payload).toEqual({});
  });

  test('when valid and invalid events are mixed, then the valid ones are stored and each invalid one is reported with its index and a reason naming the rule', async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const cases: [Partial<Event>, RegExp | undefined][] = [
      [{}, undefined],
      [{ eventId: '' }, /event_id is required/],
      [{ eventId: 'x'.repeat(129) }, /event_id .*limit is 128/],
      [{ eventId: 'caf\u00e9' }, /event_id must be printable ASCII/],
      [{ eventId: 'nul\u0000id' }, /event_id must be printable ASCII.*U\+0000/],
      [{ timestamp: undefined }, /timestamp is required/],
      [{ timestamp: { seconds: nowSeconds + 3600, nanos: 0 } }, /timestamp is (59 min 5\d s|60 min) ahead of the server clock; at most 10 min ahead is accepted/],
      [{ timestamp: { seconds: nowSeconds, nanos: -1 } }, /timestamp nanos/],
      [{ eventType: 'Log' }, /event_type must be characters of \[a-z0-9_.:-\]/],
      [{ eventType: '' }, /event_type is required/],
      [{ eventType: 'a'.repeat(65) }, /event_type .*limit is 64/],
      [{ serviceName: '' }, /service_name is required/],
      [{ serviceName: 's'.repeat(129) }, /service_name .*limit is 128/],
      [{ serviceName: 'svc\u0000' }, /service_name contains U\+0000 .*PostgreSQL/],
      [{ payloadJson: '{"a":' }, /payload_json is not valid JSON/],
      [{ payloadJson: '[1,2]' }, /payload_json must be a JSON object, not an array/],
      [{ payloadJson: '"text"' }, /payload_json must be a JSON object, not a string/],
      [{ payloadJson: JSON.stringify({ big: 'x'.repeat(70_000) }) }, /payload_json would take more than 65536 bytes as stored .*INGEST_MAX_PAYLOAD_BYTES/],
      [{ payloadJson: '{"a":"x\\u0000y"}' }, /payload_json contains U\+0000 .*PostgreSQL/],
      [{ payloadJson: '{"\\u0000":1}' }, /U\+0000/],
      [{ payloadJson: '{"a":"\\ud800"}' }, /unpaired UTF-16 surrogate/],
      [{ payloadJson: '{"a":1e200000}' }, /IEEE-754 double range/],
      [{ payloadJson: `{"a":${'['.repeat(100)}${']'.repeat(100)}}` }, /more than 32 levels deep \(the limit is 32\)/],
      [{ payloadJson: undefined, payload: { text: 'nul\u0000' } }, /payload contains U\+0000 .*PostgreSQL/],
      [{ payloadJson: undefined, payload: { ['k\u0000']: 1 } }, /payload contains U\+0000/],
      [{ payloadJson: undefined, payload: { big: 'y'.repeat(70_000) } }, /payload would take more than 65536 bytes as stored/],
      [{ payloadJson: '{"ok":"\\ud83d\\ude00 \\\\u0000 is text"}' }, undefined],
      [{ payloadJson: '{"edge":1e131071,"tiny":1e-16383}' }, /IEEE-754 double range/],
      [{ payloadJson: '{"edge":1.7976931348623157e308,"tiny":4.9e-324}' }, undefined],
      [{}, undefined],
    ];
    const events = cases.map(([overrides]) => makeEvent(overrides));
    // Two messages, so that indexes are seen to count across the whole call.
    const result = await ingestStream(server.ingest, withKey(key), [{ events: events.slice(0, 10) }, { events: events.slice(10) }]);
    expect(result.error).toBeUndefined();
    const response = result.response!;
    const expectedRejected = cases.flatMap(([, reason], index) => (reason ? [{ index, reason }] : []));
    expect(response.accepted).toBe(cases.length - expectedRejected.length);
    expect(response.rejected).toBe(expectedRejected.length);
    expect(response.duplicates).toBe(0);
    expect(response.rejectedEvents.map((rejected) => rejected.index)).toEqual(expectedRejected.map((rejected) => rejected.index));
    for (const [i, rejected] of response.rejectedEvents.entries()) {
      expect(rejected.reason).toMatch(expectedRejected[i]!.reason);
      expect(rejected.eventId).toBe(events[rejected.index]!.eventId.slice(0, 128));
    }
    const stored = new Set((await storedEvents(db.pool, tenantId)).map((row) => row.event_id));
    events.forEach((event, index) => expect([index, stored.has(event.eventId)]).toEqual([index, cases[index]![1] === undefined]));
  });

  test('when more events are rejected than the response lists, then all are counted and the first 100 are listed', async () => {
    const events = Array.from({ length: 150 }, () => makeEvent({ eventType: 'BAD' }));
    const result = await ingestUnary(server.ingest, withKey(key), { events: [makeEvent(), ...events] });
    expect(result.response).toMatchObject({ accepted: 1, duplicates: 0, rejected: 150 });
    expect(result.response!.rejectedEvents).toHaveLength(100);
    expect(result.response!.rejectedEvents[0]!.index).toBe(1);
    expect(result.response!.rejectedEvents[99]!.index).toBe(100);
  });

  test('when fields hold the special characters of COPY and awkward Unicode, then they read back from the table exactly', async () => {
    const awkward = ['tab\there', 'new\nline', 'carriage\rreturn', 'back\\slash', '\\N', '\\.', '\\', 'quote"s \'single\'', 'emoji \u{1F600} and e\u0301 and \u05D0\u05D1', '\u0001\u001f\u007f control', '\uFEFFbom', '\u2028\u2029 separators', ' leading and trailing '];
    const printable = ['back\\slash', '\\N', '\\.', 'quote"s \'single\'', ' spaced id ', 'tab\\t-as-text', '{"json":1}'];
    const events = [
      ...awkward.map((text, i) => makeEvent({ serviceName: text, payloadJson: JSON.stringify({ text, [text]: i, list: [text, text] }) })),
      ...printable.map((eventId) => makeEvent({ eventId: `${eventId}-${Math.random()}`, payloadJson: undefined, payload: { eventId } })),
      makeEvent({ eventId: 'whitespace-json', payloadJson: '{\n\t"a" : "x\\ty\\nz\\\\",\r\n "b":[ 1 ,\t2 ]\n}' }),
      makeEvent({ eventId: 'escaped-json', payloadJson: '{"e":"\\u00e9\\ud83d\\ude00\\/\\"\\\\\\b\\f\\n\\r\\t"}' }),
      makeEvent({ eventId: 'big-number', payloadJson: '{"big":123456789012345678901234567890.123456789}' }),
      makeEvent({ eventId: 'micros', timestamp: { seconds: 1_700_000_000, nanos: 123_456_789 } }),
    ];
    const { key: ownKey, tenantId: ownTenant } = await createTenantWithKey(db.pool, 'escaping');
    const result = await ingestStream(server.ingest, withKey(ownKey), [{ events }]);
    expect(result.response).toMatchObject({ accepted: events.length, rejected: 0 });
    const rows = new Map((await storedEvents(db.pool, ownTenant)).map((row) => [row.event_id, row]));
    for (const event of events) {
      const row = rows.get(event.eventId);
      expect(row?.service_name).toBe(event.serviceName);
      expect(row?.payload).toEqual(event.payloadJson === undefined ? event.payload : JSON.parse(event.payloadJson));
    }
    expect(rows.get('whitespace-json')?.payload).toEqual({ a: 'x\ty\nz\\', b: [1, 2] });
    expect(rows.get('escaped-json')?.payload).toEqual({ e: '\u00e9\u{1F600}/"\\\b\f\n\r\t' });
    // payload_json is stored as sent, not through a JavaScript number.
    expect(rows.get('big-number')?.payload_text).toBe('{"big": 123456789012345678901234567890.123456789}');
    // PostgreSQL keeps microseconds; the nanoseconds beyond are truncated.
    expect(rows.get('micros')?.ts_text).toBe('2023-11-14T22:13:20.123456Z');
  });

  test('when two tenants send the same event_id, then each stores its own event and sees only its own', async () => {
    const a = await createTenantWithKey(db.pool, 'tenant-a');
    const b = await createTenantWithKey(db.pool, 'tenant-b');
    const shared = makeEvent();
    const ofA = await ingestUnary(server.ingest, withKey(a.key), { events: [{ ...shared, payloadJson: '{"owner":"a"}' }] });
    const ofB = await ingestUnary(server.ingest, withKey(b.key), { events: [{ ...shared, payloadJson: '{"owner":"b"}' }] });
    expect(ofA.response).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(ofB.response).toMatchObject({ accepted: 1, duplicates: 0 });
    expect((await storedEvents(db.pool, a.tenantId)).map((row) => row.payload)).toEqual([{ owner: 'a' }]);
    expect((await storedEvents(db.pool, b.tenantId)).map((row) => row.payload)).toEqual([{ owner: 'b' }]);
  });

  test('when a message is not a valid IngestStreamRequest, then the call fails with INVALID_ARGUMENT and the server keeps serving', async () => {
    const client = contractIngestClient(server.address);
    try {
      const error = await new Promise<ServiceError>((resolve) => {
        // A raw client whose serializer sends bytes that are not a protobuf message.
        const call = client.makeClientStreamRequest('/telemetry.v1.IngestService/IngestStream', (value: Buffer) => value, (bytes: Buffer) => bytes, withKey(key), {}, (e) => resolve(e!));
        call.write(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
        call.end();
      });
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toContain('telemetry.v1.IngestStreamRequest');
      const after = await ingestUnary(server.ingest, withKey(key), { events: [makeEvent()] });
      expect(after.response?.accepted).toBe(1);
    } finally {
      client.close();
    }
  });
});

describe('ingestion through a client built from the .proto files alone (@grpc/proto-loader)', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  let tenantId: string;
  let client: ReturnType<typeof contractIngestClient>;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { INGEST_BATCH_SIZE: '3' });
    ({ key, tenantId } = await createTenantWithKey(db.pool, 'contract'));
    client = contractIngestClient(server.address);
  });

  afterAll(async () => {
    client.close();
    await server.stop();
    await db.drop();
  });

  const contractEvent = (eventId: string, body: Record<string, unknown>): Record<string, unknown> => ({
    event_id: eventId,
    timestamp: { seconds: Math.floor(Date.now() / 1000) - 5, nanos: 0 },
    event_type: 'trace',
    service_name: 'contract-client',
    ...body,
  });

  function stream(metadata: Metadata, messages: unknown[]): Promise<{ error: ServiceError | null; response: Record<string, unknown> | undefined; headers: Metadata }> {
    return new Promise((resolve) => {
      let headers = new Metadata();
      const call = (client as unknown as { IngestStream: (m: Metadata, cb: (e: ServiceError | null, r?: Record<string, unknown>) => void) => NodeJS.WritableStream & NodeJS.EventEmitter }).IngestStream(metadata, (error, response) =>
        setImmediate(() => resolve({ error, response, headers })),
      );
      call.on('metadata', (m: Metadata) => (headers = m));
      for (const message of messages) call.write(message as never);
      call.end();
    });
  }

  test('when a stream is sent with payload_json and Struct payloads, then the events are stored and the response has the contract fields', async () => {
    const events = [
      contractEvent('pl-1', { payload_json: '{"via":"json"}' }),
      contractEvent('pl-2', { payload: { fields: { via: { stringValue: 'struct' }, n: { numberValue: 2 }, list: { listValue: { values: [{ boolValue: true }, { nullValue: 'NULL_VALUE' }] } } } } }),
      contractEvent('pl-3', {}),
      contractEvent('pl-1', { payload_json: '{"via":"copy"}' }),
      contractEvent('', { payload_json: '{}' }),
    ];
    const result = await stream(withKey(key), [{ events: events.slice(0, 2) }, { events: events.slice(2) }]);
    expect(result.error).toBeNull();
    expect(result.response).toEqual({ accepted: 3, duplicates: 1, rejected: 1, rejected_events: [{ index: 4, event_id: '', reason: expect.stringContaining('event_id is required') }] });
    expect(result.headers.get('x-ratelimit-limit')).toEqual(['20000']);
    const rows = await storedEvents(db.pool, tenantId);
    expect(rows.map((row) => [row.event_id, row.payload])).toEqual([
      ['pl-1', { via: 'json' }],
      ['pl-2', { via: 'struct', n: 2, list: [true, null] }],
      ['pl-3', {}],
    ]);
  });

  test('when a unary Ingest is sent, then the response counts it and a repeat is all duplicates', async () => {
    const request = { events: [contractEvent('unary-1', { payload_json: '{"a":1}' }), contractEvent('unary-2', {})] };
    const call = (): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) =>
        (client as unknown as { Ingest: (r: unknown, m: Metadata, cb: (e: ServiceError | null, r?: Record<string, unknown>) => void) => void }).Ingest(request, withKey(key), (error, response) => (error ? reject(error) : resolve(response!))),
      );
    expect(await call()).toEqual({ accepted: 2, duplicates: 0, rejected: 0, rejected_events: [] });
    expect(await call()).toEqual({ accepted: 0, duplicates: 2, rejected: 0, rejected_events: [] });
  });

  test('when the key is missing, then the call is UNAUTHENTICATED', async () => {
    const result = await stream(new Metadata(), [{ events: [contractEvent('no-key', {})] }]);
    expect(result.error?.code).toBe(status.UNAUTHENTICATED);
  });
});

