import { QueryEventsResponse, StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import type { StoredEvent } from '../../src/domain/query/event-reader';
import { serializeStoredEventChunk, serializeStoredEventPage, storedEventResponseBytes, toProtoEvent } from '../../src/transport/grpc/wire/encode-query-responses';

function stored(i: number, overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    eventId: `evt-${i}-é`,
    timestampUs: 1_700_000_000_000_000n + BigInt(i) * 1_000_001n,
    eventType: 'log',
    serviceName: `service-${i % 3}`,
    payload: { level: 'info', n: i, nested: { list: [1, 'two', null, true], empty: {} }, text: 'x'.repeat(i * 40) },
    payloadJson: undefined,
    unservablePayloadBytes: undefined,
    receivedAtUs: 1_700_000_100_000_005n,
    ...overrides,
  };
}

const EVENTS: StoredEvent[] = [
  stored(1),
  stored(2, { payload: undefined, payloadJson: '{"a": 1}' }),
  stored(3, { timestampUs: -62_135_596_800_000_000n }),
  stored(4, { payload: {} }),
  stored(5, { payload: undefined }),
  stored(200),
];

describe('query response serializers (stored events, each encoded once)', () => {
  test.each([
    ['a page with every kind of event, a cursor and a total', { events: EVENTS, nextCursor: 'AbC-_9', hasMore: true, totalCount: 1234 }],
    ['the last page', { events: EVENTS.slice(0, 2), nextCursor: '', hasMore: false, totalCount: 0 }],
    ['an empty page', { events: [], nextCursor: '', hasMore: false, totalCount: 0 }],
  ])('when %s is serialized, then the bytes are exactly the generated encoding of the same events', (_name, page) => {
    const generated = QueryEventsResponse.encode({ ...page, events: page.events.map(toProtoEvent) }).finish();
    expect(serializeStoredEventPage(page).equals(Buffer.from(generated))).toBe(true);
  });

  test('when a chunk of StreamEvents is serialized, then the bytes are exactly the generated encoding and decode back', () => {
    const bytes = serializeStoredEventChunk({ events: EVENTS });
    expect(bytes.equals(Buffer.from(StreamEventsResponse.encode({ events: EVENTS.map(toProtoEvent) }).finish()))).toBe(true);
    expect(StreamEventsResponse.decode(bytes).events.map((e) => e.eventId)).toEqual(EVENTS.map((e) => e.eventId));
  });

  test('when events are measured, then the sizes add up to the chunk that carries them (what pages and chunks are cut by)', () => {
    const fresh = EVENTS.map((event) => ({ ...event }));
    const measured = fresh.reduce((sum, event) => sum + storedEventResponseBytes(event), 0);
    expect(serializeStoredEventChunk({ events: fresh }).length).toBe(measured);
  });
});
