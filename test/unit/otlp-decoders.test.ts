import { create, toBinary } from '@bufbuild/protobuf';
import { mapLogs } from '../../src/domain/otlp/map-otlp';
import { decodeLogsRequest } from '../../src/transport/otlp/decode-logs-request';
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

function anyValue(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 2 ? 5 : 7));
  switch (pick) {
    case 0:
      return { stringValue: `s${Math.floor(next() * 1e6)}` };
    case 1:
      return { boolValue: next() < 0.5 };
    case 2:
      return { intValue: String(BigInt(Math.floor(next() * 2 ** 53)) * 1024n - 2n ** 62n) };
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
          severityText: next() < 0.5 ? 'INFO' : '',
          body: next() < 0.9 ? anyValue(next, 0) : undefined,
          attributes: attributes(Math.floor(next() * 4)),
          droppedAttributesCount: Math.floor(next() * 2),
          flags: Math.floor(next() * 256),
          traceId: next() < 0.5 ? '5b8efff798038103d269b633813fc60c' : '',
          spanId: next() < 0.5 ? 'eee19b7ec3c1b174' : '',
          eventName: next() < 0.3 ? 'evt' : '',
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
