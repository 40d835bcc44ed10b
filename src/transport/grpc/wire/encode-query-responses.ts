import { Timestamp } from '../../../gen/google/protobuf/timestamp';
import { Event } from '../../../gen/telemetry/v1/event';
import { QueryEventsResponse } from '../../../gen/telemetry/v1/query_service';
import type { StoredEvent } from '../../../domain/query/event-reader';
import { microsToTimePoint } from '../../../domain/query/time-point';
import { encodeStruct } from './encode-struct';
import { EVENT, EVENTS } from './field-tags';

/** A length-delimited field's head: its tag and the varint of its length. */
export function lengthPrefix(tag: number, length: number): Buffer {
  const bytes = [tag];
  for (let value = length; ; value >>>= 7) {
    if (value < 0x80) {
      bytes.push(value);
      break;
    }
    bytes.push((value & 0x7f) | 0x80);
  }
  return Buffer.from(bytes);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * One Event as the generated codec writes it, fields in number order, with a
 * Struct payload encoded by encodeStruct (the costly part of a page).
 */
function pushEvent(parts: Buffer[], event: Event): void {
  if (event.payload === undefined) {
    const bytes = asBuffer(Event.encode(event).finish());
    parts.push(lengthPrefix(EVENTS, bytes.length), bytes);
    return;
  }
  const head = asBuffer(Event.encode({ ...event, payload: undefined, receivedAt: undefined }).finish());
  const payload = encodeStruct(event.payload);
  const payloadPrefix = lengthPrefix(EVENT.payload, payload.length);
  const tail = event.receivedAt === undefined ? [] : timestampField(event.receivedAt);
  const length = head.length + payloadPrefix.length + payload.length + tail.reduce((sum, part) => sum + part.length, 0);
  parts.push(lengthPrefix(EVENTS, length), head, payloadPrefix, payload, ...tail);
}

function timestampField(timestamp: Timestamp): Buffer[] {
  const bytes = asBuffer(Timestamp.encode(timestamp).finish());
  return [lengthPrefix(EVENT.receivedAt, bytes.length), bytes];
}

/** A stored event as the Event message of the contract. */
export function toProtoEvent(event: StoredEvent): Event {
  return {
    eventId: event.eventId,
    timestamp: microsToTimePoint(event.timestampUs),
    eventType: event.eventType,
    serviceName: event.serviceName,
    ...(event.payloadJson !== undefined ? { payloadJson: event.payloadJson } : { payload: event.payload ?? {} }),
    receivedAt: microsToTimePoint(event.receivedAtUs),
  };
}

/**
 * Each stored event's bytes as a field of a page or chunk (tag, length,
 * Event), made once: QueryService measures them to cut pages and chunks to
 * GRPC_MAX_RESPONSE_BYTES, and the serializers below send the same bytes.
 */
const encodedEvents = new WeakMap<StoredEvent, Buffer>();

function encodedEvent(event: StoredEvent): Buffer {
  let bytes = encodedEvents.get(event);
  if (bytes === undefined) {
    const parts: Buffer[] = [];
    pushEvent(parts, toProtoEvent(event));
    bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    encodedEvents.set(event, bytes);
  }
  return bytes;
}

/** The bytes a stored event takes in a page or chunk (ResponseSizing.eventBytes). */
export function storedEventResponseBytes(event: StoredEvent): number {
  return encodedEvent(event).length;
}

/** A page as the handler hands it over: stored events, encoded (once) as they are serialized. */
export interface StoredEventPage {
  readonly events: readonly StoredEvent[];
  readonly nextCursor: string;
  readonly hasMore: boolean;
  readonly totalCount: number;
}

/** A QueryEventsResponse's bytes from stored events: what QueryEventsResponse.encode gives, faster for Struct payloads. */
export function serializeStoredEventPage(page: StoredEventPage): Buffer {
  const parts = page.events.map(encodedEvent);
  parts.push(asBuffer(QueryEventsResponse.encode({ events: [], nextCursor: page.nextCursor, hasMore: page.hasMore, totalCount: page.totalCount }).finish()));
  return Buffer.concat(parts);
}

/** A StreamEventsResponse's bytes from stored events. */
export function serializeStoredEventChunk(chunk: { readonly events: readonly StoredEvent[] }): Buffer {
  return Buffer.concat(chunk.events.map(encodedEvent));
}
