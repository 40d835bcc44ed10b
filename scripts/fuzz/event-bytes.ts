import { Struct } from '../../src/gen/google/protobuf/struct';
import { concat, lengthDelimited, secondsNanos } from './wire-bytes';

/**
 * An event as wire bytes, field by field: strings may be raw bytes (not
 * UTF-8), the timestamp any int64/int32 pair or absent, the payload a Struct
 * given as bytes. Field numbers are the contract's (telemetry.v1.Event).
 */
export interface RawEvent {
  readonly eventId: string | Uint8Array;
  /** Absent when null. */
  readonly timestamp: { readonly seconds: bigint | number; readonly nanos: number } | null;
  readonly eventType: string | Uint8Array;
  readonly serviceName: string | Uint8Array;
  readonly payloadJson?: string | Uint8Array;
  /** google.protobuf.Struct bytes. */
  readonly payload?: Uint8Array;
  /** Bytes appended as they are (unknown fields). */
  readonly extra?: Uint8Array;
}

export function eventBytes(event: RawEvent): Uint8Array {
  const parts = [lengthDelimited(1, event.eventId)];
  if (event.timestamp !== null) parts.push(lengthDelimited(2, secondsNanos(event.timestamp.seconds, event.timestamp.nanos)));
  parts.push(lengthDelimited(3, event.eventType), lengthDelimited(4, event.serviceName));
  if (event.payload !== undefined) parts.push(lengthDelimited(5, event.payload));
  if (event.payloadJson !== undefined) parts.push(lengthDelimited(6, event.payloadJson));
  if (event.extra !== undefined) parts.push(event.extra);
  return concat(parts);
}

/** An IngestRequest (or IngestStreamRequest: the same field) carrying these encoded events. */
export function ingestMessage(events: readonly Uint8Array[]): Uint8Array {
  return concat(events.map((event) => lengthDelimited(1, event)));
}

/** A Struct's bytes from a plain object, by the generated encoder. */
export function structBytes(value: Record<string, unknown>): Uint8Array {
  return Struct.encode(Struct.wrap(value)).finish();
}

/** A valid event (a second before `nowSeconds`, type `log`, a small JSON payload) with some fields replaced. */
export function validEvent(eventId: string | Uint8Array, nowSeconds: number, overrides: Partial<RawEvent> = {}): RawEvent {
  return { eventId, timestamp: { seconds: nowSeconds - 1, nanos: 0 }, eventType: 'log', serviceName: 'fuzz', payloadJson: '{"level":"info"}', ...overrides };
}
