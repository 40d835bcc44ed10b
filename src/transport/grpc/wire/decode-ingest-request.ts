import { BinaryReader } from '@bufbuild/protobuf/wire';
import type { MeasuredPayload } from '../../../domain/ingest/ingest-event';
import type { Event } from '../../../gen/telemetry/v1/event';
import { decodeBoundedStruct, delimited, skipField } from './decode-bounded-struct';
import { mergedOccurrences } from './decode-overriding';
import { EVENT, EVENTS, SECONDS_NANOS } from './field-tags';
import { StructJsonWriter } from './struct-to-json';

/**
 * An Event as the ingest path decodes it: payload_json stays the UTF-8 bytes
 * it arrived as (a view into the message), which validation scans and COPY
 * writes as they are, never decoded into a string.
 */
export type DecodedEvent = Omit<Event, 'payloadJson'> & {
  payloadJson: Uint8Array | undefined;
  /** A Struct payload already written as JSON text (structToJson's fast path); `payload` is then unset. */
  payloadStructJson?: Uint8Array;
  /** What the validator's scan would find in payloadStructJson, when it was measured as it was written. */
  payloadStructJsonMeasured?: MeasuredPayload;
};

/** IngestRequest and IngestStreamRequest (the same fields) with their events as DecodedEvents. */
export interface DecodedIngestRequest {
  events: DecodedEvent[];
}

type SecondsNanos = { seconds: number; nanos: number };

const prematureEof = (): RangeError => new RangeError('premature EOF');

/**
 * An IngestRequest or IngestStreamRequest in one pass over its bytes with
 * one reader: the hot path of ingest (every event of every message), so
 * written out rather than composed from decodeOverriding. It gives what the
 * generated decoder gives, except that payload_json is left as its bytes,
 * a Struct payload is written as JSON text when it can be (structToJson),
 * else decoded bounded by depth (decodeBoundedStruct), int64 seconds
 * past 2^53 do not throw (they lose precision, and validation refuses them)
 * and a field that overruns its event is refused (the generated decoder
 * reads on into the next event). Repeated occurrences of a message field
 * are merged, as protobuf says.
 */
export function decodeIngestRequest(bytes: Uint8Array, maxPayloadDepth: number): DecodedIngestRequest {
  const reader = new BinaryReader(bytes);
  const events: DecodedEvent[] = [];
  const payloads = new StructPayloads(maxPayloadDepth, bytes.length);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === EVENTS) {
      const end = delimited(reader, reader.len);
      events.push(decodeEvent(reader, bytes, end, payloads));
      reader.pos = end;
      continue;
    }
    // Unknown fields are skipped; an end-group tag ends the message, as in the generated decoder.
    if (!skipField(reader, tag)) break;
  }
  return { events };
}

/** The Struct payloads of one message: one StructJsonWriter for them all, made at the first. */
class StructPayloads {
  private writer: StructJsonWriter | undefined;

  constructor(
    readonly maxDepth: number,
    private readonly messageBytes: number,
  ) {}

  /** Sets the event's payload from the Struct's wire bytes: as JSON text when it can be written so, else as an object. */
  decode(event: DecodedEvent, struct: Uint8Array): void {
    // The message's payloads take about as many bytes as JSON text as on the wire.
    const written = (this.writer ??= new StructJsonWriter(this.maxDepth, this.messageBytes + 64)).write(struct);
    if (written === undefined) {
      event.payload = decodeBoundedStruct(struct, this.maxDepth);
      return;
    }
    event.payloadStructJson = written.json;
    if (written.measured !== undefined) event.payloadStructJsonMeasured = written.measured;
  }
}

/** The event whose bytes end at `end`; `bytes` are the reader's. */
function decodeEvent(reader: BinaryReader, bytes: Uint8Array, end: number, structPayloads: StructPayloads): DecodedEvent {
  const event: DecodedEvent = { eventId: '', timestamp: undefined, eventType: '', serviceName: '', payload: undefined, payloadJson: undefined, receivedAt: undefined };
  let payloads: Uint8Array[] | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag) {
      case EVENT.eventId:
        event.eventId = readString(reader, bytes);
        break;
      case EVENT.timestamp:
        event.timestamp = readSecondsNanos(reader, bytes, event.timestamp);
        break;
      case EVENT.eventType:
        event.eventType = readRepeatedString(reader, bytes, lastEventType);
        break;
      case EVENT.serviceName:
        event.serviceName = readRepeatedString(reader, bytes, lastServiceName);
        break;
      case EVENT.payload:
        (payloads ??= []).push(reader.bytes());
        break;
      case EVENT.payloadJson:
        event.payloadJson = reader.bytes();
        break;
      case EVENT.receivedAt:
        event.receivedAt = readSecondsNanos(reader, bytes, event.receivedAt);
        break;
      default:
        if (!skipField(reader, tag)) reader.pos = end;
    }
    if (reader.pos > end) throw prematureEof();
  }
  if (payloads) structPayloads.decode(event, mergedOccurrences(payloads));
  return event;
}

/** Decodes UTF-8 as the generated decoder does: invalid sequences become U+FFFD, and a leading BOM is kept (it is part of the string). */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Node's own latin1 slice of a Uint8Array (what Buffer#toString('latin1')
 * calls), with no Buffer made: the fastest way from ASCII bytes to a string.
 */
const nodeLatin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;
const latin1Slice: (bytes: Uint8Array, start: number, end: number) => string =
  typeof nodeLatin1Slice === 'function' ? (bytes, start, end) => nodeLatin1Slice.call(bytes, start, end) : (bytes, start, end) => String.fromCharCode(...bytes.subarray(start, end));

/** A string field: ASCII (event ids, types, most service names) the fast way, anything else through UTF-8 decoding. */
function readString(reader: BinaryReader, bytes: Uint8Array): string {
  return readStringOfLength(reader, bytes, reader.uint32());
}

/** readString once its length prefix has been read. */
function readStringOfLength(reader: BinaryReader, bytes: Uint8Array, length: number): string {
  const start = reader.pos;
  const end = start + length;
  if (end > reader.len) throw prematureEof();
  reader.pos = end;
  for (let i = start; i < end; i++) if (bytes[i]! > 0x7f) return utf8.decode(bytes.subarray(start, end));
  return latin1Slice(bytes, start, end);
}

/** The last value read of a field whose values repeat from event to event. */
interface LastString {
  value: string;
}

const lastEventType: LastString = { value: '' };
const lastServiceName: LastString = { value: '' };

/**
 * A string field whose value is mostly the previous event's (event_type,
 * service_name: a batch comes from few services): when the bytes spell the
 * last ASCII value read, that string is returned instead of a new one.
 * Compared against the string itself, so that no message is kept alive.
 */
function readRepeatedString(reader: BinaryReader, bytes: Uint8Array, last: LastString): string {
  const previous = last.value;
  const length = reader.uint32();
  const start = reader.pos;
  if (length === previous.length && length > 0 && start + length <= reader.len) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (bytes[start + i] !== previous.charCodeAt(i)) {
        same = false;
        break;
      }
    }
    if (same) {
      reader.pos = start + length;
      return previous;
    }
  }
  const value = readStringOfLength(reader, bytes, length);
  // Only ASCII values are kept: for them a byte is a char code, which the comparison above relies on.
  if (value.length === length) last.value = value;
  return value;
}

/** A nested Timestamp or Duration field, merged over `previous`, as a repeated occurrence of a message field merges. */
function readSecondsNanos(reader: BinaryReader, bytes: Uint8Array, previous: SecondsNanos | undefined): SecondsNanos {
  return readSecondsNanosUntil(reader, bytes, delimited(reader, reader.len), previous);
}

/**
 * The fields of a Timestamp or Duration (int64 seconds = 1, int32 nanos = 2)
 * from the reader's position to `end`, over `previous`. Seconds never throw
 * (see readInt64AsNumber).
 */
export function readSecondsNanosUntil(reader: BinaryReader, bytes: Uint8Array, end: number, previous: SecondsNanos | undefined): SecondsNanos {
  const value = { seconds: previous?.seconds ?? 0, nanos: previous?.nanos ?? 0 };
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === SECONDS_NANOS.seconds) value.seconds = readInt64AsNumber(reader, bytes);
    else if (tag === SECONDS_NANOS.nanos) value.nanos = reader.int32();
    else if (!skipField(reader, tag)) reader.pos = end;
    if (reader.pos > end) throw prematureEof();
  }
  return value;
}

/**
 * An int64 varint as a number, with no BigInt made: its low and high 32 bits
 * (two's complement), exact up to 2^53 and rounded past it, as Number() of
 * the int64 would be.
 */
function readInt64AsNumber(reader: BinaryReader, bytes: Uint8Array): number {
  let pos = reader.pos;
  let low = 0;
  let high = 0;
  for (let shift = 0; shift < 64; shift += 7) {
    if (pos >= reader.len) throw prematureEof();
    const byte = bytes[pos++]!;
    const bits = byte & 0x7f;
    if (shift < 28) low |= bits << shift;
    else if (shift === 28) {
      low |= (bits & 0x0f) << 28;
      high |= bits >> 4;
    } else high |= bits << (shift - 32);
    if ((byte & 0x80) === 0) {
      reader.pos = pos;
      return high * 4_294_967_296 + (low >>> 0);
    }
  }
  throw new Error('invalid varint: more than 10 bytes');
}
