import type { Event as WireEvent } from './gen/telemetry/v1/event';
import type { Timestamp } from './gen/google/protobuf/timestamp';
import { encodeFrame, type FrameEncoder } from './encode-event';

/** A JSON object, as events carry. */
export type JsonObject = { [key: string]: unknown };

/** An event as the application hands it to the ingester. */
export interface EventInput {
  /** The idempotency key (1..128 printable ASCII). A UUIDv7 when absent. */
  eventId?: string;
  /** When it happened; now when absent. */
  timestamp?: Date;
  /** 1..64 chars of [a-z0-9_.:-], e.g. "log". */
  eventType: string;
  /** 1..128 chars. */
  serviceName: string;
  /** A JSON object (serialized with JSON.stringify and sent as payload_json). */
  payload?: JsonObject;
  /** The payload already serialized as a JSON object's text; wins over `payload`. */
  payloadJson?: string;
}

/** An event as queries return it. */
export interface VaultEvent {
  eventId: string;
  timestamp: Date;
  eventType: string;
  serviceName: string;
  /** The payload, parsed from the stored JSON text (payload_json). */
  payload: JsonObject;
  /** The stored JSON text itself (exact, for numbers past double precision). */
  payloadJson: string;
  receivedAt: Date | undefined;
}

export function toTimestamp(date: Date): Timestamp {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new TypeError('timestamp: an invalid Date');
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1e6 };
}

export function fromTimestamp(timestamp: Timestamp | undefined): Date | undefined {
  if (!timestamp) return undefined;
  return new Date(timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1e6));
}

/**
 * Encodes the event as a frame of IngestStreamRequest with `encoder`
 * (encode-event.ts, encodeFrame) and returns where the frame starts in `encoder.slab`:
 * `payloadJson` as is, else `payload` through JSON.stringify, else `{}`; the
 * timestamp now when absent.
 */
export function encodeEventInput(encoder: FrameEncoder, input: EventInput, eventId: string): number {
  const payloadJson = input.payloadJson ?? (input.payload === undefined ? '{}' : JSON.stringify(input.payload));
  const ms = input.timestamp === undefined ? Date.now() : input.timestamp.getTime();
  if (!Number.isFinite(ms)) throw new TypeError('timestamp: an invalid Date');
  const seconds = Math.floor(ms / 1000);
  return encodeFrame(encoder, eventId, seconds, (ms - seconds * 1000) * 1e6, input.eventType, input.serviceName, payloadJson);
}

export function fromWireEvent(event: WireEvent): VaultEvent {
  const payloadJson = event.payloadJson ?? '{}';
  return {
    eventId: event.eventId,
    timestamp: fromTimestamp(event.timestamp) ?? new Date(0),
    eventType: event.eventType,
    serviceName: event.serviceName,
    payload: JSON.parse(payloadJson) as JsonObject,
    payloadJson,
    receivedAt: fromTimestamp(event.receivedAt),
  };
}
