import { Timestamp } from '../../../gen/google/protobuf/timestamp';
import { Event } from '../../../gen/telemetry/v1/event';
import { QueryEventsResponse, type StreamEventsResponse } from '../../../gen/telemetry/v1/query_service';
import { encodeStruct } from './encode-struct';
import { EVENT, EVENTS } from './field-tags';


function lengthPrefix(tag: number, length: number): Buffer {
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

/** A QueryEventsResponse's bytes, the same as QueryEventsResponse.encode gives, faster for Struct payloads. */
export function serializeQueryEventsResponse(response: QueryEventsResponse): Buffer {
  const parts: Buffer[] = [];
  for (const event of response.events) pushEvent(parts, event);
  parts.push(asBuffer(QueryEventsResponse.encode({ ...response, events: [] }).finish()));
  return Buffer.concat(parts);
}

/** A StreamEventsResponse's bytes (its only field is the events). */
export function serializeStreamEventsResponse(response: StreamEventsResponse): Buffer {
  const parts: Buffer[] = [];
  for (const event of response.events) pushEvent(parts, event);
  return Buffer.concat(parts);
}
