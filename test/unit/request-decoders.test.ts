import { Struct } from '../../src/gen/google/protobuf/struct';
import { IngestRequest } from '../../src/gen/telemetry/v1/ingest_service';
import { AggregateRequest, EventFilter, QueryEventsRequest, StreamEventsRequest } from '../../src/gen/telemetry/v1/query_service';
import { EventValidator } from '../../src/domain/ingest/event-validator';
import { validateEventFilter } from '../../src/domain/query/validate-event-filter';
import { durationToMicros, timePointToMicros } from '../../src/domain/query/time-point';
import { VaultError } from '../../src/domain/vault-error';
import { decodeBoundedStruct } from '../../src/transport/grpc/wire/decode-bounded-struct';
import { createRequestDecoders } from '../../src/transport/grpc/wire/request-decoders';
import { eventBytes, ingestMessage, validEvent } from '../../scripts/fuzz/event-bytes';
import { FUZZ_RPCS, type CaseContext } from '../../scripts/fuzz/fuzz-case';
import { validRequest } from '../../scripts/fuzz/random-cases';
import { Prng } from '../../scripts/fuzz/prng';
import { random, randomObject } from '../support/random-json';
import { asGeneratedIngest, ingestAsGenerated } from '../support/decoded-ingest';
import { concat, deepStruct, lengthDelimited, secondsNanos, varintField } from '../../scripts/fuzz/wire-bytes';

const decoders = createRequestDecoders({ ingest: { maxPayloadDepth: 100 }, query: { payloadContainsMaxDepth: 64 } });
const NOW = 1_800_000_000;
const validator = new EventValidator({ maxPayloadBytes: 65_536, maxPayloadDepth: 100, maxFutureSkewMs: 600_000 }, () => NOW * 1000);
const INT64_MAX = 2n ** 63n - 1n;

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  return 1 + Math.max(0, ...Object.values(value).map(depthOf));
}

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof VaultError) return error.fieldViolations[0]?.field;
    throw error;
  }
  return undefined;
}

describe('request decoders', () => {
  test('when a Struct payload nests 50 levels (over ts-proto\'s decode recursion limit, under INGEST_MAX_PAYLOAD_DEPTH), then the request decodes and the event is valid', () => {
    const bytes = ingestMessage([eventBytes(validEvent('deep', NOW, { payloadJson: undefined, payload: deepStruct(50) }))]);
    expect(() => IngestRequest.decode(bytes)).toThrow(/recursion limit/);
    const [event] = decoders.ingestRequest(bytes).events;
    expect(depthOf(asGeneratedIngest({ events: [event!] }).events[0]!.payload)).toBe(50);
    expect(typeof validator.validate(event!)).toBe('object');
  });

  test('when one event\'s Struct payload nests 10 000 levels, then the other events of the message still decode and only that event is rejected, naming the depth limit', () => {
    const bytes = ingestMessage([eventBytes(validEvent('ok', NOW)), eventBytes(validEvent('deep', NOW, { payloadJson: undefined, payload: deepStruct(10_000, 'lists') })), eventBytes(validEvent('ok-too', NOW))]);
    const events = decoders.ingestRequest(bytes).events;
    expect(events.map((event) => event.eventId)).toEqual(['ok', 'deep', 'ok-too']);
    // Decoding stopped one level below the limit: the work is bounded by the limit, not by the input.
    expect(depthOf(events[1]!.payload)).toBe(101);
    expect(validator.validate(events[1]!)).toBe('payload nests objects and arrays more than 100 levels deep (the limit is 100)');
    expect(typeof validator.validate(events[0]!)).toBe('object');
  });

  test('when an event\'s timestamp seconds are INT64_MAX (the generated decoder throws past 2^53), then the message decodes and only that event is rejected for its range', () => {
    const bytes = ingestMessage([eventBytes(validEvent('huge', NOW, { timestamp: { seconds: INT64_MAX, nanos: 0 } })), eventBytes(validEvent('ok', NOW))]);
    expect(() => IngestRequest.decode(bytes)).toThrow(/MAX_SAFE_INTEGER/);
    const events = decoders.ingestRequest(bytes).events;
    expect(validator.validate(events[0]!)).toBe('timestamp must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z');
    expect(typeof validator.validate(events[1]!)).toBe('object');
  });

  test('when a client sets received_at (output only) to INT64_MIN seconds, then the event still decodes', () => {
    const bytes = ingestMessage([eventBytes(validEvent('received', NOW, { extra: lengthDelimited(7, secondsNanos(-(2n ** 63n), 0)) }))]);
    expect(decoders.ingestRequest(bytes).events[0]!.eventId).toBe('received');
  });

  test('when a filter time, max_events or a bucket is past 2^53, then the request decodes and validation names the field', () => {
    const filter = lengthDelimited(1, lengthDelimited(1, secondsNanos(INT64_MAX, 0)));
    const query = decoders.queryEventsRequest(filter);
    expect(fieldOf(() => timePointToMicros(query.filter!.startTime!, 'filter.start_time'))).toBe('filter.start_time');
    expect(decoders.streamEventsRequest(varintField(3, INT64_MAX)).maxEvents).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
    const aggregate = decoders.aggregateRequest(lengthDelimited(3, secondsNanos(INT64_MAX, 0)));
    expect(fieldOf(() => durationToMicros(aggregate.bucket!, 'bucket'))).toBe('bucket');
  });

  test('when StreamEvents sets follow (field 5) next to an overridden max_events and filter, then the generated decoding keeps it', () => {
    const bytes = concat([varintField(3, 7n), lengthDelimited(1, EventFilter.encode(EventFilter.fromPartial({ eventTypes: ['log'] })).finish()), varintField(5, 1n)]);
    const request = decoders.streamEventsRequest(bytes);
    expect(request.follow).toBe(true);
    expect(request.maxEvents).toBe(7);
    expect(request.filter?.eventTypes).toEqual(['log']);
  });

  test('when payload_contains nests 40 levels and QUERY_PAYLOAD_CONTAINS_MAX_DEPTH allows 64, then it decodes and passes validation', () => {
    const bytes = lengthDelimited(1, lengthDelimited(5, deepStruct(40)));
    expect(() => QueryEventsRequest.decode(bytes)).toThrow(/recursion limit/);
    const filter = decoders.queryEventsRequest(bytes).filter!;
    expect(validateEventFilter(filter, { filterMaxValues: 100, payloadContainsMaxBytes: 65_536, payloadContainsMaxDepth: 64 }).payloadContains).toContain('"leaf":1');
  });

  test('when a Struct has a "__proto__" key, then it is kept as a key (the generated decoder drops it)', () => {
    const bytes = lengthDelimited(1, concat([lengthDelimited(1, '__proto__'), lengthDelimited(2, lengthDelimited(3, 'x'))]));
    expect(Object.keys(Struct.unwrap(Struct.decode(bytes)))).toEqual([]);
    expect(JSON.stringify(decodeBoundedStruct(bytes, 10))).toBe('{"__proto__":"x"}');
  });

  test('when requests are well-formed (random valid ones, with unknown fields appended), then the decoders give exactly what the generated ones give', () => {
    const prng = new Prng(7);
    const ctx = { idPrefix: 'eq', nowSeconds: NOW, limits: {} as CaseContext['limits'] };
    const generated = { Ingest: IngestRequest.decode, IngestStream: IngestRequest.decode, QueryEvents: QueryEventsRequest.decode, StreamEvents: StreamEventsRequest.decode, Aggregate: AggregateRequest.decode };
    const ours = { Ingest: ingestAsGenerated(decoders), IngestStream: ingestAsGenerated(decoders), QueryEvents: decoders.queryEventsRequest, StreamEvents: decoders.streamEventsRequest, Aggregate: decoders.aggregateRequest };
    for (const rpc of FUZZ_RPCS) {
      for (let i = 0; i < 100; i++) {
        const valid = validRequest(prng, rpc, `eq-${i}`, ctx);
        const bytes = prng.chance(0.5) ? valid : concat([valid, varintField(1999, prng.uint32()), lengthDelimited(1998, prng.bytes(prng.int(20)))]);
        expect(ours[rpc](bytes)).toEqual(generated[rpc](bytes));
      }
    }
  });

  test('when consecutive events repeat, change, or nearly repeat their event_type and service_name (ASCII, UTF-8, ill-formed UTF-8), then every value is what the generated decoder gives', () => {
    // The decoder reuses the previous event's string when the bytes spell it again: it must never reuse one that differs.
    const values = [Buffer.from('api'), Buffer.from('api'), Buffer.from('apj'), Buffer.from('api '), Buffer.from('caf\u00e9', 'utf8'), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from([0x61, 0x70, 0xe9]), Buffer.from('ap\ufffd'), Buffer.from([0x61, 0x70, 0xff]), Buffer.from('api'), Buffer.from(''), Buffer.from('api')];
    const prng = new Prng(11);
    for (let round = 0; round < 20; round++) {
      const events = Array.from({ length: 30 }, (_, i) =>
        lengthDelimited(1, concat([lengthDelimited(1, Buffer.from(`id-${i}`)), lengthDelimited(3, values[prng.int(values.length)]!), lengthDelimited(4, values[prng.int(values.length)]!)])),
      );
      const bytes = concat(events);
      expect(ingestAsGenerated(decoders)(bytes)).toEqual(IngestRequest.decode(bytes));
    }
  });

  test('when random Structs of every kind of value are decoded, then the object is what the generated decoder unwraps', () => {
    const next = random(4242);
    for (let i = 0; i < 1000; i++) {
      const object = JSON.parse(JSON.stringify(randomObject(next, 0))) as Record<string, unknown>;
      const bytes = Struct.encode(Struct.wrap(object)).finish();
      expect(decodeBoundedStruct(bytes, 100)).toEqual(Struct.unwrap(Struct.decode(bytes)));
    }
  });

  test('when a Struct is cut short anywhere inside, then decoding throws instead of returning part of it', () => {
    const bytes = Struct.encode(Struct.wrap({ a: 'text', b: [1, { c: true }], d: null })).finish();
    for (let length = 1; length < bytes.length; length++) {
      const cut = bytes.subarray(0, length);
      let decoded: unknown;
      try {
        decoded = decodeBoundedStruct(cut, 100);
      } catch {
        continue;
      }
      // A cut that falls exactly between two entries is a shorter, valid Struct.
      expect(Struct.unwrap(Struct.decode(cut))).toEqual(decoded);
    }
  });

  test('when a nested message overruns its declared length, then the decoders refuse it (the generated ones read on into the parent\'s bytes)', () => {
    // An event of 6 bytes whose event_id claims 9.
    const bytes = concat([lengthDelimited(1, Uint8Array.of(0x0a, 0x09, 0x61, 0x62, 0x63, 0x64)), lengthDelimited(3, 'xyz')]);
    expect(IngestRequest.decode(bytes).events[0]!.eventId).toBe('abcd\x1a\x03xyz');
    expect(() => decoders.ingestRequest(bytes)).toThrow(/premature EOF/);
  });
});
