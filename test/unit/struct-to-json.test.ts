import { Struct } from '../../src/gen/google/protobuf/struct';
import { EventValidator } from '../../src/domain/ingest/event-validator';
import type { IncomingEvent, ValidEvent } from '../../src/domain/ingest/ingest-event';
import { decodeBoundedStruct } from '../../src/transport/grpc/wire/decode-bounded-struct';
import { depthReason, storedSizeReason } from '../../src/domain/ingest/inspect-json';
import { JsonObjectScanner } from '../../src/domain/ingest/scan-json-bytes';
import { StructJsonWriter, structToJson } from '../../src/transport/grpc/wire/struct-to-json';
import { concat, lengthDelimited } from '../../scripts/fuzz/wire-bytes';
import { random, randomObject } from '../support/random-json';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const validator = new EventValidator({ maxPayloadBytes: 64 * 1024, maxPayloadDepth: 8, maxFutureSkewMs: 600_000 }, () => NOW);
const event = (payload: Partial<IncomingEvent>): IncomingEvent => ({ eventId: 'e', timestamp: { seconds: NOW / 1000, nanos: 0 }, eventType: 'log', serviceName: 's', ...payload });
const text = (result: ValidEvent | string): string => (typeof result === 'string' ? `rejected: ${result}` : Buffer.from(result.payloadJson).toString('utf8'));

describe('structToJson (a Struct payload written as JSON text from its wire bytes)', () => {
  test('when 3000 random Structs (every kind of value, awkward numbers and strings, nesting) are written, then each is what JSON.stringify of the decoded object stores, and the validator gives the same verdict and stored JSON both ways', () => {
    const next = random(515);
    let fast = 0;
    for (let i = 0; i < 3000; i++) {
      const object = JSON.parse(JSON.stringify(randomObject(next, 0))) as Record<string, unknown>;
      const bytes = Struct.encode(Struct.wrap(object)).finish();
      const json = structToJson(bytes, 8);
      const decoded = decodeBoundedStruct(bytes, 8);
      const viaObject = validator.validate(event({ payload: decoded }));
      if (json === undefined) {
        // Given up only where the object path has something to say (here: nesting past the limit).
        expect(viaObject).toMatch(/more than 8 levels deep/);
        continue;
      }
      fast++;
      expect(JSON.parse(Buffer.from(json).toString('utf8'))).toEqual(JSON.parse(JSON.stringify(decoded)));
      const viaText = validator.validate(event({ payloadStructJson: json }));
      if (typeof viaObject === 'string') expect(viaText).toBe(viaObject);
      else expect(JSON.parse(text(viaText))).toEqual(JSON.parse(text(viaObject)));
    }
    expect(fast).toBeGreaterThan(2000);
  });

  test('when strings hold quotes, backslashes, control characters and non-ASCII text, then they are escaped exactly as JSON.stringify escapes them', () => {
    const value = 'q"b\\s/\u0000\u0001\u0008\t\n\u000b\u000c\r\u001f\u007f é 日本 \u{1F600}';
    const json = structToJson(Struct.encode(Struct.wrap({ [value]: value })).finish(), 8);
    expect(Buffer.from(json!).toString('utf8')).toBe(JSON.stringify({ [value]: value }));
  });

  test('when a Struct holds what only the object path can judge (no kind, two kinds, an entry without a value, NaN, Infinity, bytes that are not UTF-8, an unknown field), then the fast path gives up', () => {
    const entry = (key: string, value: Uint8Array): Uint8Array => lengthDelimited(1, concat([lengthDelimited(1, key), lengthDelimited(2, value)]));
    const number = (n: number): Uint8Array => {
      const bytes = new Uint8Array(9);
      bytes[0] = (2 << 3) | 1;
      new DataView(bytes.buffer).setFloat64(1, n, true);
      return bytes;
    };
    const cases: Uint8Array[] = [
      entry('none', new Uint8Array(0)),
      entry('two', concat([number(1), lengthDelimited(3, 'x')])),
      lengthDelimited(1, lengthDelimited(1, 'no value')),
      entry('nan', number(Number.NaN)),
      entry('inf', number(Number.POSITIVE_INFINITY)),
      entry('bad', lengthDelimited(3, Uint8Array.of(0x61, 0xff))),
      concat([entry('ok', number(1)), lengthDelimited(9, 'unknown')]),
    ];
    for (const bytes of cases) expect(structToJson(bytes, 8)).toBeUndefined();
    expect(Buffer.from(structToJson(entry('ok', number(-0.5)), 8)!).toString()).toBe('{"ok":-0.5}');
  });

  test('when a Struct is cut short anywhere inside, then it throws or gives up, never returning part of it', () => {
    const bytes = Struct.encode(Struct.wrap({ a: 'text', b: [1, { c: true }], d: null })).finish();
    for (let length = 1; length < bytes.length; length++) {
      const cut = bytes.subarray(0, length);
      let json: Uint8Array | undefined;
      try {
        json = structToJson(cut, 8);
      } catch {
        continue;
      }
      // A cut that falls exactly between two entries is a shorter, valid Struct.
      if (json !== undefined) expect(JSON.parse(Buffer.from(json).toString())).toEqual(Struct.unwrap(Struct.decode(cut)));
    }
  });

  test('when 3000 random Structs (awkward numbers, NUL and other control characters, unicode, nesting) are written one after another by one writer, then each one\'s measure is exactly what the validator\'s scan finds in its text', () => {
    const next = random(4242);
    const numbers = [0, -0, 7, -7, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, -1.5e300, 123.456];
    const strings = ['nul\u0000inside', 'tab\tand\nnewline', 'back\\slash "q"', '\u001f', 'é日本\u{1F600}', ''];
    const writer = new StructJsonWriter(8, 64);
    let measured = 0;
    let nul = 0;
    for (let i = 0; i < 3000; i++) {
      const object = JSON.parse(JSON.stringify(randomObject(next, 0))) as Record<string, unknown>;
      object[`n${i % 7}`] = numbers[Math.floor(next() * numbers.length)];
      if (next() < 0.3) object[strings[Math.floor(next() * strings.length)]!] = strings[Math.floor(next() * strings.length)];
      const bytes = Struct.encode(Struct.wrap(object)).finish();
      const written = writer.write(bytes);
      const alone = structToJson(bytes, 8);
      if (written === undefined) {
        expect(alone).toBeUndefined();
        continue;
      }
      expect(Buffer.from(written.json).toString('utf8')).toBe(Buffer.from(alone!).toString('utf8'));
      if (written.measured === undefined) {
        // Only a U+0000 leaves a payload unmeasured: the scan gives its reason.
        nul++;
        expect(new JsonObjectScanner({ maxDepth: 8, maxStoredBytes: 1 << 30 }).scan(written.json)).toMatch(/U\+0000/);
        continue;
      }
      measured++;
      const { depth, storedBytes, copyEscapes } = written.measured;
      expect(new JsonObjectScanner({ maxDepth: depth, maxStoredBytes: storedBytes }).scan(written.json)).toEqual({ copyEscapes });
      const tooSmall = { maxDepth: depth, maxStoredBytes: storedBytes - 1 };
      expect(new JsonObjectScanner(tooSmall).scan(written.json)).toBe(storedSizeReason(tooSmall));
      if (depth > 1) expect(new JsonObjectScanner({ maxDepth: depth - 1, maxStoredBytes: storedBytes }).scan(written.json)).toBe(depthReason(depth - 1));
    }
    expect(measured).toBeGreaterThan(2000);
    expect(nul).toBeGreaterThan(10);
  });

  test('when a writer\'s payloads outgrow its buffer (a 100 kB string among small ones), then every text written before stays as it was written', () => {
    const writer = new StructJsonWriter(8, 16);
    const objects = Array.from({ length: 200 }, (_, i) => ({ i, text: i % 50 === 7 ? 'z'.repeat(100_000) : `t${'"'.repeat(i % 5)}` }));
    const texts = objects.map((object) => writer.write(Struct.encode(Struct.wrap(object)).finish())!.json);
    texts.forEach((json, i) => expect(Buffer.from(json).toString('utf8')).toBe(JSON.stringify(objects[i])));
    // A payload that needed a buffer past the shared size is a copy of its own length; the small ones share 64 KiB buffers.
    for (const [i, json] of texts.entries()) expect(json.buffer.byteLength).toBeLessThanOrEqual(i % 50 === 7 ? Math.max(json.length, 8192) : 64 * 1024);
  });

  test('when a Struct holds int32 bounds, -0 and numbers that need an exponent, then each is spelled as JSON.stringify spells it', () => {
    for (const n of [0, -0, 1, -1, 9, 10, -10, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 0.5, 1e21, -1e21, 1e-7, 5e-324, Number.MAX_VALUE, Number.MIN_SAFE_INTEGER]) {
      expect(Buffer.from(structToJson(Struct.encode(Struct.wrap({ n })).finish(), 8)!).toString()).toBe(JSON.stringify({ n }));
    }
  });

  test('when a measured Struct payload is within the limits, then the validator stores it unscanned; past the stored-size limit, it gives the scan\'s reason', () => {
    const bytes = Struct.encode(Struct.wrap({ big: 1e300, text: 'x'.repeat(100) })).finish();
    const written = new StructJsonWriter(8, 64).write(bytes)!;
    // jsonb stores a space after the ',' and each ':', and 1e300 (written "1e+300", 6 bytes) as 301 digits.
    expect(written.measured!.storedBytes).toBe(written.json.length + 3 + 295);
    const within = new EventValidator({ maxPayloadBytes: written.measured!.storedBytes, maxPayloadDepth: 8, maxFutureSkewMs: 600_000 }, () => NOW);
    const over = new EventValidator({ maxPayloadBytes: written.measured!.storedBytes - 1, maxPayloadDepth: 8, maxFutureSkewMs: 600_000 }, () => NOW);
    const measuredEvent = event({ payloadStructJson: written.json, payloadStructJsonMeasured: written.measured });
    expect(text(within.validate(measuredEvent))).toBe(Buffer.from(written.json).toString());
    expect(over.validate(measuredEvent)).toBe(over.validate(event({ payloadStructJson: written.json })));
    expect(over.validate(measuredEvent)).toMatch(/would take more than/);
  });
});
