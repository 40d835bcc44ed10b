import { create, toBinary } from '@bufbuild/protobuf';
import { mapLogs, type MappedEvent } from '../../src/domain/otlp/map-otlp';
import { EventValidator } from '../../src/domain/ingest/event-validator';
import { decodeLogsRequest } from '../../src/transport/otlp/decode-logs-request';
import { logsToEvents } from '../../src/transport/otlp/logs-to-events';
import { decodeBinaryByReflection, decodeJson, OTLP_SCHEMAS } from '../../src/transport/otlp/otlp-schemas';

const schema = OTLP_SCHEMAS.logs.request;

/** A seeded generator (reproducible cases). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** Strings that JSON escapes or that are not ASCII (UTF-16 lengths differ from UTF-8 ones). */
const STRANGE = ['"q"', '\\', '\n\t\u0001\u007f', 'é', '\u2028', '😀x', '\u00a0日本'];

function anyValue(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 2 ? 5 : 7));
  switch (pick) {
    case 0:
      return { stringValue: `s${Math.floor(next() * 1e6)}${next() < 0.3 ? STRANGE[Math.floor(next() * STRANGE.length)] : ''}` };
    case 1:
      return { boolValue: next() < 0.5 };
    case 2: {
      // Small, below 2^49 (logs-to-events' plain numbers), either side of 2^49, and anywhere in int64 (long varints, negatives).
      const magnitude = Math.floor(next() * 4);
      const value =
        magnitude === 0
          ? BigInt(Math.floor(next() * 1000))
          : magnitude === 1
            ? BigInt(Math.floor(next() * 2 ** 49))
            : magnitude === 2
              ? 2n ** 49n - 2n + BigInt(Math.floor(next() * 4))
              : BigInt(Math.floor(next() * 2 ** 53)) * 1024n - 2n ** 62n;
      return { intValue: String(value) };
    }
    case 3:
      return { doubleValue: next() * 1e6 - 5e5 };
    case 4:
      return { bytesValue: Buffer.from([Math.floor(next() * 256), 0, 255]).toString('base64') };
    case 5:
      return { arrayValue: { values: [anyValue(next, depth + 1), anyValue(next, depth + 1)] } };
    default:
      return { kvlistValue: { values: [{ key: 'a', value: anyValue(next, depth + 1) }, { key: 'b' }] } };
  }
}

/** A random OTLP/JSON logs request (as JSON text would carry it: no undefined members). */
function randomRequest(seed: number): unknown {
  return JSON.parse(JSON.stringify(randomShape(seed)));
}

function randomShape(seed: number): unknown {
  const next = random(seed);
  const attributes = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: anyValue(next, 0) }));
  return {
    resourceLogs: Array.from({ length: 1 + Math.floor(next() * 2) }, () => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: `svc-${seed}` } }, ...attributes(2)], droppedAttributesCount: Math.floor(next() * 3) },
      scopeLogs: Array.from({ length: 1 + Math.floor(next() * 2) }, () => ({
        scope: next() < 0.8 ? { name: 'lib', version: next() < 0.5 ? '1.0' : '', attributes: attributes(1) } : undefined,
        logRecords: Array.from({ length: Math.floor(next() * 4) }, () => ({
          timeUnixNano: next() < 0.8 ? String(1_700_000_000_000_000_000n + BigInt(Math.floor(next() * 1e15))) : '0',
          observedTimeUnixNano: String(1_700_000_000_000_000_000n + BigInt(Math.floor(next() * 1e15))),
          severityNumber: Math.floor(next() * 25),
          severityText: next() < 0.5 ? 'INFO' : next() < 0.5 ? 'ünfo😀' : '',
          body: next() < 0.9 ? anyValue(next, 0) : undefined,
          attributes: attributes(Math.floor(next() * 4)),
          droppedAttributesCount: Math.floor(next() * 2),
          flags: Math.floor(next() * 256),
          traceId: next() < 0.5 ? '5b8efff798038103d269b633813fc60c' : '',
          spanId: next() < 0.5 ? 'eee19b7ec3c1b174' : '',
          eventName: next() < 0.3 ? 'evt' : next() < 0.2 ? 'é"vt' : '',
        })),
      })),
    })),
  };
}

describe('the hand-written ExportLogsServiceRequest decoder', () => {
  test('when 200 random requests are decoded by it and by @bufbuild/protobuf\'s reflection, then they map to the same events (ids, timestamps, payloads)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const message = decodeJson('logs', randomRequest(seed));
      const bytes = toBinary(schema, create(schema, message as never));
      const byHand = mapLogs(decodeLogsRequest(bytes), 0n);
      const byReflection = mapLogs(decodeBinaryByReflection('logs', bytes), 0n);
      expect(byHand).toEqual(byReflection);
      expect(byHand.events).toEqual(mapLogs(message, 0n).events);
    }
  });

  test('when 200 random requests are mapped straight from their wire bytes (logs-to-events), then the events are those of decodeLogsRequest + mapLogs, payload text byte for byte', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const bytes = toBinary(schema, create(schema, decodeJson('logs', randomRequest(seed)) as never));
      const general = mapLogs(decodeLogsRequest(bytes), 1_750_000_000_123_456_789n);
      const fast = logsToEvents(bytes, 1_750_000_000_123_456_789n);
      expect(fast).toBeDefined();
      expect(fast!.records).toBe(general.records);
      expect(fast!.recordIndexes).toEqual(general.recordIndexes);
      expect(fast!.unmapped).toEqual([]);
      expect(fast!.events.map(({ payloadJson, payloadJsonWritten: _written, ...rest }) => ({ ...rest, payloadJson: Buffer.from(payloadJson).toString('utf8') }))).toEqual(general.events);
    }
  });

  test('when times and observed times take edge values (absent, under a second, exactly 2^53 and 2^64 - 1 ns), then logs-to-events gives the general path\'s ids and timestamps', () => {
    const edges = ['0', '1', '999999999', '1000000000', '1000000001', '9007199254740993', '1700000000999999999', '4294967295999999999', '18446744073709551615'];
    const records = edges.flatMap((time) => edges.map((observed) => ({ timeUnixNano: time, observedTimeUnixNano: observed, body: { stringValue: 'x' } })));
    const bytes = toBinary(schema, create(schema, decodeJson('logs', { resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] }) as never));
    const receivedAt = 1_750_000_000_123_456_789n;
    const fast = logsToEvents(bytes, receivedAt);
    expect(fast).toBeDefined();
    expect(fast!.events.map(({ payloadJson, payloadJsonWritten: _written, ...rest }) => ({ ...rest, payloadJson: Buffer.from(payloadJson).toString('utf8') }))).toEqual(mapLogs(decodeLogsRequest(bytes), receivedAt).events);
  });

  test('when the fast path vouches for the payloads it wrote, then validation answers what a full scan answers, and \\u0000, doubles and tight limits still get the scan', () => {
    const scanOf = (validator: EventValidator, event: MappedEvent) => validator.validate({ ...event, payloadJsonWritten: undefined });
    const validator = new EventValidator({ maxPayloadBytes: 64 * 1024, maxPayloadDepth: 32, maxFutureSkewMs: 3_600_000 }, () => 1_800_000_000_000);
    let vouched = 0;
    let valid = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const bytes = toBinary(schema, create(schema, decodeJson('logs', randomRequest(seed)) as never));
      for (const event of logsToEvents(bytes, 1_750_000_000_123_456_789n)!.events) {
        if (event.payloadJsonWritten !== undefined) vouched++;
        const answer = validator.validate(event);
        if (typeof answer !== 'string') valid++;
        expect(answer).toEqual(scanOf(validator, event));
      }
    }
    expect(vouched).toBeGreaterThan(100);
    expect(valid).toBeGreaterThan(100);
    const record = (body: unknown, attributes: unknown[] = []) => ({ timeUnixNano: '1700000000000000000', body, attributes });
    const eventsOf = (...records: unknown[]) =>
      logsToEvents(toBinary(schema, create(schema, decodeJson('logs', { resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] }) as never)), 0n)!.events;
    const [nul, double, nested, escaped] = eventsOf(
      record({ stringValue: 'a\u0000b' }),
      record({ doubleValue: 1e300 }),
      record({ stringValue: 'x' }, [{ key: 'k', value: { kvlistValue: { values: [{ key: 'j', value: { arrayValue: { values: [{ intValue: '1' }] } } }] } } }]),
      record({ stringValue: 'tab\tquote"' }),
    );
    expect(nul!.payloadJsonWritten).toBeUndefined();
    expect(validator.validate(nul!)).toMatch(/U\+0000|\\u0000/);
    expect(double!.payloadJsonWritten).toBeUndefined();
    // payload { attributes { k { j [ 1 ] } } }: four levels; the written depth may only be more.
    expect(nested!.payloadJsonWritten!.depth).toBeGreaterThanOrEqual(4);
    expect(new EventValidator({ maxPayloadBytes: 64 * 1024, maxPayloadDepth: 3, maxFutureSkewMs: 3_600_000 }).validate(nested!)).toMatch(/more than 3 levels/);
    expect(escaped!.payloadJsonWritten!.copyEscapes).toBe(true);
    expect(validator.validate(escaped!)).toEqual(scanOf(validator, escaped!));
    const tight = new EventValidator({ maxPayloadBytes: 100, maxPayloadDepth: 32, maxFutureSkewMs: 3_600_000 });
    const [long] = eventsOf(record({ stringValue: 'y'.repeat(200) }));
    expect(tight.validate(long!)).toEqual(scanOf(tight, long!));
    expect(typeof tight.validate(long!)).toBe('string');
  });

  test('when a request has what only the general path decodes exactly (a repeated attribute key, a body given twice, a non-UTF-8 string, unknown fields, truncation), then logs-to-events gives it up', () => {
    const record = (logRecord: unknown) => toBinary(schema, create(schema, { resourceLogs: [{ scopeLogs: [{ logRecords: [logRecord] }] }] } as never));
    const str = (value: string) => ({ value: { case: 'stringValue', value } });
    expect(logsToEvents(record({ attributes: [{ key: 'a', value: str('1') }] }), 0n)).toBeDefined();
    expect(logsToEvents(record({ attributes: [{ key: 'a', value: str('1') }, { key: 'a', value: str('2') }] }), 0n)).toBeUndefined();
    // A LogRecord with two body fields (protobuf merges them), in a ScopeLogs in a ResourceLogs.
    const wrap = (tag: number, inner: Buffer): Buffer => Buffer.concat([Buffer.from([tag, inner.length]), inner]);
    const twoBodies = Buffer.from([0x2a, 0x03, 0x0a, 0x01, 0x78, 0x2a, 0x03, 0x0a, 0x01, 0x79]);
    expect(logsToEvents(wrap(0x0a, wrap(0x12, wrap(0x12, twoBodies.subarray(0, 5)))), 0n)).toBeDefined();
    expect(logsToEvents(wrap(0x0a, wrap(0x12, wrap(0x12, twoBodies))), 0n)).toBeUndefined();
    const good = Buffer.from(record({ body: str('ab') }));
    const notUtf8 = Buffer.from(good);
    notUtf8[notUtf8.length - 1] = 0xff;
    expect(logsToEvents(notUtf8, 0n)).toBeUndefined();
    expect(logsToEvents(Buffer.concat([good, Buffer.from([0xf8, 0x01, 0x00])]), 0n)).toBeUndefined();
    expect(logsToEvents(good.subarray(0, good.length - 1), 0n)).toBeUndefined();
    expect(logsToEvents(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), 0n)).toBeUndefined();
  });

  test('when the bytes are truncated or not a message, then it throws rather than decode garbage', () => {
    const bytes = toBinary(schema, create(schema, decodeJson('logs', randomRequest(7)) as never));
    expect(() => decodeLogsRequest(bytes.subarray(0, bytes.length - 3))).toThrow();
    expect(() => decodeLogsRequest(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow();
  });

  test('when attribute values nest past 1000 levels, then it throws naming the depth', () => {
    let value: unknown = { value: { case: 'stringValue', value: 'x' } };
    for (let i = 0; i < 1100; i++) value = { value: { case: 'arrayValue', value: { values: [value] } } };
    const bytes = toBinary(schema, create(schema, { resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: value }] }] }] } as never));
    expect(() => decodeLogsRequest(bytes)).toThrow(/nest more than 1000 levels/);
  });
});
