import type { Event } from '../src/gen/telemetry/v1/event';
import { IngestStreamRequest } from '../src/gen/telemetry/v1/ingest_service';
import { createFrameEncoder, encodeFrame, frameBytes, messageBytes, type Frame, type FrameEncoder } from '../src/encode-event';
import { encodeEventInput, type EventInput } from '../src/convert';

/** Encodes one event with `encoder`: its frame. */
function frameOf(encoder: FrameEncoder, ...fields: Parameters<typeof encodeFrame> extends [FrameEncoder, ...infer Fields] ? Fields : never): Frame {
  const start = encodeFrame(encoder, ...fields);
  return { slab: encoder.slab, start, length: encoder.end - start };
}

/** Strings of every UTF-8 width (1 to 4 bytes) and lengths around the varint boundaries (127/128, 16383/16384 bytes). */
function randomText(random: () => number): string {
  const alphabet = ['a', 'Z', '0', '_', 'é', '€', '😀', '"', '\\', '\u0000'];
  const lengths = [0, 1, 5, 42, 127, 128, 129, 5000, 16_383, 16_384, 70_000];
  const length = lengths[Math.floor(random() * lengths.length)]!;
  const head = Array.from({ length: Math.min(length, 64) }, () => alphabet[Math.floor(random() * alphabet.length)]!).join('');
  return length <= 64 ? head : head + 'x'.repeat(length - 64);
}

/** A small deterministic generator (mulberry32), so that a failure can be replayed. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the Node.js client event encoder', () => {
  test('when 200 random events are encoded as frames, then the generated codec decodes each to the same fields, and concatenated frames decode as one message', () => {
    const random = seeded(14);
    const encoder = createFrameEncoder();
    const frames: Buffer[] = [];
    const expected: Event[] = [];
    const secondsChoices = [0, 1, 127, 128, 1_700_000_000, 253_402_300_799, -1, -62_135_596_800];
    for (let i = 0; i < 200; i++) {
      const event = {
        eventId: randomText(random),
        seconds: secondsChoices[Math.floor(random() * secondsChoices.length)]!,
        nanos: random() < 0.3 ? 0 : Math.floor(random() * 1e9),
        eventType: randomText(random),
        serviceName: randomText(random),
        payloadJson: randomText(random),
      };
      const frame = frameBytes(frameOf(encoder, event.eventId, event.seconds, event.nanos, event.eventType, event.serviceName, event.payloadJson));
      const decoded = IngestStreamRequest.decode(frame).events;
      expect(decoded).toHaveLength(1);
      // Compared field by field as booleans: a failing deep diff of 70 000-character strings would take minutes to print.
      expect(Object.is(decoded[0]!.eventId, event.eventId) && decoded[0]!.payloadJson === event.payloadJson).toBe(true);
      expect({ ...decoded[0], eventId: '', payloadJson: '' }).toEqual({ eventId: '', timestamp: { seconds: event.seconds, nanos: event.nanos }, eventType: event.eventType, serviceName: event.serviceName, payload: undefined, payloadJson: '', receivedAt: undefined });
      // The frame is exactly the generated encoding of a one-event message.
      expect(frame.equals(Buffer.from(IngestStreamRequest.encode({ events: decoded }).finish()))).toBe(true);
      frames.push(frame);
      expected.push(decoded[0]);
    }
    const together = IngestStreamRequest.decode(Buffer.concat(frames)).events;
    expect(together.length).toBe(expected.length);
    expect(together.every((event, i) => event.eventId === expected[i]!.eventId && event.payloadJson === expected[i]!.payloadJson)).toBe(true);
  });

  test('when an event input has a payload object, a payloadJson or neither, and a Date, then the frame carries the JSON text and the millisecond timestamp', () => {
    const at = new Date('2026-12-05T08:00:00.123Z');
    const encoder = createFrameEncoder();
    const toEventFrame = (input: EventInput, eventId: string): Buffer => {
      const start = encodeEventInput(encoder, input, eventId);
      return frameBytes({ slab: encoder.slab, start, length: encoder.end - start });
    };
    const decode = (frame: Buffer) => IngestStreamRequest.decode(frame).events[0]!;
    expect(decode(toEventFrame({ eventType: 'log', serviceName: 'api', payload: { a: 1 }, timestamp: at }, 'id-1'))).toMatchObject({ eventId: 'id-1', payloadJson: '{"a":1}', timestamp: { seconds: Math.floor(at.getTime() / 1000), nanos: 123_000_000 } });
    expect(decode(toEventFrame({ eventType: 'log', serviceName: 'api', payload: { a: 1 }, payloadJson: '{"b":12345678901234567890}' }, 'id-2')).payloadJson).toBe('{"b":12345678901234567890}');
    expect(decode(toEventFrame({ eventType: 'log', serviceName: 'api' }, 'id-3')).payloadJson).toBe('{}');
    expect(() => toEventFrame({ eventType: 'log', serviceName: 'api', timestamp: new Date(Number.NaN) }, 'id-4')).toThrow(/invalid Date/);
  });

  test('when short strings are ASCII, or not ASCII at their first, middle or last unit, or 64 and 65 units long, then each frame decodes to the same strings', () => {
    const encoder = createFrameEncoder();
    const texts = ['a', 'api-gateway', 'é', 'é-api', 'ap€i', 'api😀', 'x'.repeat(63) + 'é', 'x'.repeat(64), 'x'.repeat(65), '€'.repeat(64), 'a\u0000b', '\u007f\u0080'];
    for (const text of texts) {
      const frame = frameBytes(frameOf(encoder, text, 1, 0, text, text, text));
      expect(IngestStreamRequest.decode(frame).events[0]).toMatchObject({ eventId: text, eventType: text, serviceName: text, payloadJson: text });
    }
  });

  test('when a message is made of frames encoded one after another, then its bytes are those frames in place (no copy), and frames from apart are joined by a copy', () => {
    const encoder = createFrameEncoder();
    const frames = Array.from({ length: 50 }, (_, i) => frameOf(encoder, `id-${i}`, 1_700_000_000 + i, 0, 'log', 'api', `{"i":${i}}`));
    const message = messageBytes(frames);
    expect(message.buffer).toBe(encoder.slab.buffer);
    expect(message.byteOffset).toBe(encoder.slab.byteOffset + frames[0]!.start);
    expect(message.equals(Buffer.concat(frames.map(frameBytes)))).toBe(true);
    const apart = [frames[3]!, frames[1]!, frames[7]!];
    const joined = messageBytes(apart);
    expect(joined.equals(Buffer.concat(apart.map(frameBytes)))).toBe(true);
    expect(IngestStreamRequest.decode(joined).events.map((event) => event.eventId)).toEqual(['id-3', 'id-1', 'id-7']);
  });
});
