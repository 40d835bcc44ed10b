import type { Event } from '../../src/gen/telemetry/v1/event';
import { QueryEventsResponse, StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import { serializeQueryEventsResponse, serializeStreamEventsResponse } from '../../src/transport/grpc/wire/encode-query-responses';

function event(i: number, overrides: Partial<Event> = {}): Event {
  return {
    eventId: `evt-${i}-é`,
    timestamp: { seconds: 1_700_000_000 + i, nanos: i * 1000 },
    eventType: 'log',
    serviceName: `service-${i % 3}`,
    payload: { level: 'info', n: i, nested: { list: [1, 'two', null, true], empty: {} }, text: 'x'.repeat(i * 40) },
    receivedAt: { seconds: 1_700_000_100, nanos: 5 },
    ...overrides,
  };
}

const EVENTS: Event[] = [
  event(1),
  event(2, { payload: undefined, payloadJson: '{"a":1}' }),
  event(3, { receivedAt: undefined }),
  event(4, { payload: {} }),
  event(5, { payload: undefined }),
  event(200),
];

describe('query response serializers', () => {
  test.each([
    ['a page with every kind of event, a cursor and a total', { events: EVENTS, nextCursor: 'AbC-_9', hasMore: true, totalCount: 1234 }],
    ['the last page', { events: EVENTS.slice(0, 2), nextCursor: '', hasMore: false, totalCount: 0 }],
    ['an empty page', { events: [], nextCursor: '', hasMore: false, totalCount: 0 }],
  ])('when %s is serialized, then the bytes are exactly the generated encoding', (_name, response: QueryEventsResponse) => {
    expect(serializeQueryEventsResponse(response).equals(Buffer.from(QueryEventsResponse.encode(response).finish()))).toBe(true);
  });

  test('when a chunk of StreamEvents is serialized, then the bytes are exactly the generated encoding and decode back', () => {
    const bytes = serializeStreamEventsResponse({ events: EVENTS });
    expect(bytes.equals(Buffer.from(StreamEventsResponse.encode({ events: EVENTS }).finish()))).toBe(true);
    expect(StreamEventsResponse.decode(bytes).events.map((e) => e.eventId)).toEqual(EVENTS.map((e) => e.eventId));
  });
});
