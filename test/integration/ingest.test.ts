import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Event } from '../../src/gen/telemetry/v1/event';
import type { IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
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
});
