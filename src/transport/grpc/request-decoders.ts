import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { IngestSettings, QuerySettings } from '../../config/load-config';
import type { Duration } from '../../gen/google/protobuf/duration';
import type { Timestamp } from '../../gen/google/protobuf/timestamp';
import type { Event } from '../../gen/telemetry/v1/event';
import { IngestRequest, type IngestStreamRequest } from '../../gen/telemetry/v1/ingest_service';
import { AggregateRequest, EventFilter, QueryEventsRequest, StreamEventsRequest } from '../../gen/telemetry/v1/query_service';
import { decodeBoundedStruct } from './decode-bounded-struct';
import { decodeOverriding, lenientInt64, mergedOccurrences, type FieldOverride } from './decode-overriding';
import { skipField } from './decode-bounded-struct';

/** The nesting limits that bound Struct decoding: INGEST_MAX_PAYLOAD_DEPTH and QUERY_PAYLOAD_CONTAINS_MAX_DEPTH. */
export interface DecodeLimits {
  readonly ingest: Pick<IngestSettings, 'maxPayloadDepth'>;
  readonly query: Pick<QuerySettings, 'payloadContainsMaxDepth'>;
}

/** Request deserializers of both services. */
export interface RequestDecoders {
  readonly ingestRequest: (bytes: Uint8Array) => IngestRequest & IngestStreamRequest;
  readonly queryEventsRequest: (bytes: Uint8Array) => QueryEventsRequest;
  readonly streamEventsRequest: (bytes: Uint8Array) => StreamEventsRequest;
  readonly aggregateRequest: (bytes: Uint8Array) => AggregateRequest;
}

/**
 * The generated decoders, except where they would fail a whole request over
 * one field that validation should judge: Struct payloads and filters deeper
 * than ts-proto's recursion limit (see decodeBoundedStruct), and int64
 * seconds or counts past 2^53, on which the generated decoders throw. With
 * these, such an event is rejected on its own (the other events of its
 * message are stored) and such a filter, bucket or max_events is
 * INVALID_ARGUMENT naming the field, as the contract says.
 */
export function createRequestDecoders(limits: DecodeLimits): RequestDecoders {
  const event = (bytes: Uint8Array): Event => decodeEvent(bytes, limits.ingest.maxPayloadDepth);
  const filter = (bytes: Uint8Array): EventFilter =>
    decodeOverriding(bytes, EventFilter.decode, {
      1: message<EventFilter>((value) => ({ startTime: decodeLenientSeconds(value) })),
      2: message<EventFilter>((value) => ({ endTime: decodeLenientSeconds(value) })),
      5: message<EventFilter>((value) => ({ payloadContains: decodeBoundedStruct(value, limits.query.payloadContainsMaxDepth) })),
    });
  const filterField = <T extends { filter: EventFilter | undefined }>(): FieldOverride<T> => message<T>((value) => ({ filter: filter(value) }) as Partial<T>);

  return {
    ingestRequest: (bytes) =>
      decodeOverriding(bytes, IngestRequest.decode, {
        1: { wireType: WireType.LengthDelimited, decode: (occurrences) => ({ events: occurrences.map(event) }) },
      }),
    queryEventsRequest: (bytes) => decodeOverriding(bytes, QueryEventsRequest.decode, { 1: filterField<QueryEventsRequest>() }),
    streamEventsRequest: (bytes) =>
      decodeOverriding(bytes, StreamEventsRequest.decode, {
        1: filterField<StreamEventsRequest>(),
        3: { wireType: WireType.Varint, decode: (occurrences) => ({ maxEvents: lenientInt64(occurrences.at(-1)!) }) },
      }),
    aggregateRequest: (bytes) =>
      decodeOverriding(bytes, AggregateRequest.decode, {
        1: filterField<AggregateRequest>(),
        3: message<AggregateRequest>((value) => ({ bucket: decodeLenientSeconds(value) })),
      }),
  };
}

const EVENT_ID = 0x0a; // field 1, length-delimited
const EVENT_TIMESTAMP = 0x12;
const EVENT_TYPE = 0x1a;
const EVENT_SERVICE_NAME = 0x22;
const EVENT_PAYLOAD = 0x2a;
const EVENT_PAYLOAD_JSON = 0x32;
const EVENT_RECEIVED_AT = 0x3a;
const SECONDS = 0x08; // Timestamp and Duration: field 1, varint
const NANOS = 0x10;

/**
 * An Event in one pass over its bytes: the hot path of ingest (every event of
 * every message), so written out rather than composed from decodeOverriding.
 * It gives what the generated decoder gives, except that payloads are
 * bounded by depth (decodeBoundedStruct) and timestamp seconds past 2^53 do
 * not throw. Repeated occurrences of a message field are merged, as protobuf
 * says.
 */
function decodeEvent(bytes: Uint8Array, maxPayloadDepth: number): Event {
  const reader = new BinaryReader(bytes);
  const event: Event = { eventId: '', timestamp: undefined, eventType: '', serviceName: '', payload: undefined, payloadJson: undefined, receivedAt: undefined };
  let timestamps: Uint8Array[] | undefined;
  let payloads: Uint8Array[] | undefined;
  let receivedAts: Uint8Array[] | undefined;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    switch (tag) {
      case EVENT_ID:
        event.eventId = reader.string();
        continue;
      case EVENT_TIMESTAMP:
        (timestamps ??= []).push(reader.bytes());
        continue;
      case EVENT_TYPE:
        event.eventType = reader.string();
        continue;
      case EVENT_SERVICE_NAME:
        event.serviceName = reader.string();
        continue;
      case EVENT_PAYLOAD:
        (payloads ??= []).push(reader.bytes());
        continue;
      case EVENT_PAYLOAD_JSON:
        event.payloadJson = reader.string();
        continue;
      case EVENT_RECEIVED_AT:
        (receivedAts ??= []).push(reader.bytes());
        continue;
    }
    if (!skipField(reader, tag)) break;
  }
  if (timestamps) event.timestamp = decodeLenientSeconds(mergedOccurrences(timestamps));
  if (payloads) event.payload = decodeBoundedStruct(mergedOccurrences(payloads), maxPayloadDepth);
  if (receivedAts) event.receivedAt = decodeLenientSeconds(mergedOccurrences(receivedAts));
  return event;
}

/**
 * A Timestamp or a Duration (the same two fields: int64 seconds = 1, int32
 * nanos = 2) whose seconds never throw (see lenientInt64).
 */
function decodeLenientSeconds(bytes: Uint8Array): Timestamp & Duration {
  const reader = new BinaryReader(bytes);
  const value = { seconds: 0, nanos: 0 };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === SECONDS) value.seconds = Number(reader.int64());
    else if (tag === NANOS) value.nanos = reader.int32();
    else if (!skipField(reader, tag)) break;
  }
  return value;
}

/** A singular message field: its occurrences merged, then decoded. */
function message<T>(decode: (merged: Uint8Array) => Partial<T>): FieldOverride<T> {
  return { wireType: WireType.LengthDelimited, decode: (occurrences) => decode(mergedOccurrences(occurrences)) };
}

