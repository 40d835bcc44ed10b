import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { IngestSettings, QuerySettings } from '../../../config/load-config';
import type { Duration } from '../../../gen/google/protobuf/duration';
import type { Timestamp } from '../../../gen/google/protobuf/timestamp';
import type { Event } from '../../../gen/telemetry/v1/event';
import { IngestRequest, type IngestStreamRequest } from '../../../gen/telemetry/v1/ingest_service';
import { AggregateRequest, EventFilter, QueryEventsRequest, StreamEventsRequest } from '../../../gen/telemetry/v1/query_service';
import { decodeBoundedStruct, skipField } from './decode-bounded-struct';
import { AGGREGATE_REQUEST_FIELDS, EVENT, EVENT_FILTER_FIELDS, INGEST_REQUEST_FIELDS, QUERY_EVENTS_REQUEST_FIELDS, SECONDS_NANOS, STREAM_EVENTS_REQUEST_FIELDS } from './field-tags';
import { decodeOverriding, lenientInt64, mergedOccurrences, type FieldOverride } from './decode-overriding';

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
      [EVENT_FILTER_FIELDS.startTime]: message<EventFilter>((value) => ({ startTime: decodeLenientSeconds(value) })),
      [EVENT_FILTER_FIELDS.endTime]: message<EventFilter>((value) => ({ endTime: decodeLenientSeconds(value) })),
      [EVENT_FILTER_FIELDS.payloadContains]: message<EventFilter>((value) => ({ payloadContains: decodeBoundedStruct(value, limits.query.payloadContainsMaxDepth) })),
    });
  const filterField = <T extends { filter: EventFilter | undefined }>(): FieldOverride<T> => message<T>((value) => ({ filter: filter(value) }) as Partial<T>);

  return {
    ingestRequest: (bytes) =>
      decodeOverriding(bytes, IngestRequest.decode, {
        [INGEST_REQUEST_FIELDS.events]: { wireType: WireType.LengthDelimited, decode: (occurrences) => ({ events: occurrences.map(event) }) },
      }),
    queryEventsRequest: (bytes) => decodeOverriding(bytes, QueryEventsRequest.decode, { [QUERY_EVENTS_REQUEST_FIELDS.filter]: filterField<QueryEventsRequest>() }),
    streamEventsRequest: (bytes) =>
      decodeOverriding(bytes, StreamEventsRequest.decode, {
        [STREAM_EVENTS_REQUEST_FIELDS.filter]: filterField<StreamEventsRequest>(),
        [STREAM_EVENTS_REQUEST_FIELDS.maxEvents]: { wireType: WireType.Varint, decode: (occurrences) => ({ maxEvents: lenientInt64(occurrences.at(-1)!) }) },
      }),
    aggregateRequest: (bytes) =>
      decodeOverriding(bytes, AggregateRequest.decode, {
        [AGGREGATE_REQUEST_FIELDS.filter]: filterField<AggregateRequest>(),
        [AGGREGATE_REQUEST_FIELDS.bucket]: message<AggregateRequest>((value) => ({ bucket: decodeLenientSeconds(value) })),
      }),
  };
}

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
      case EVENT.eventId:
        event.eventId = reader.string();
        continue;
      case EVENT.timestamp:
        (timestamps ??= []).push(reader.bytes());
        continue;
      case EVENT.eventType:
        event.eventType = reader.string();
        continue;
      case EVENT.serviceName:
        event.serviceName = reader.string();
        continue;
      case EVENT.payload:
        (payloads ??= []).push(reader.bytes());
        continue;
      case EVENT.payloadJson:
        event.payloadJson = reader.string();
        continue;
      case EVENT.receivedAt:
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
    if (tag === SECONDS_NANOS.seconds) value.seconds = Number(reader.int64());
    else if (tag === SECONDS_NANOS.nanos) value.nanos = reader.int32();
    else if (!skipField(reader, tag)) break;
  }
  return value;
}

/** A singular message field: its occurrences merged, then decoded. */
function message<T>(decode: (merged: Uint8Array) => Partial<T>): FieldOverride<T> {
  return { wireType: WireType.LengthDelimited, decode: (occurrences) => decode(mergedOccurrences(occurrences)) };
}

