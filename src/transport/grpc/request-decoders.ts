import { WireType } from '@bufbuild/protobuf/wire';
import { Duration } from '../../gen/google/protobuf/duration';
import { Timestamp } from '../../gen/google/protobuf/timestamp';
import { Event } from '../../gen/telemetry/v1/event';
import { IngestRequest, type IngestStreamRequest } from '../../gen/telemetry/v1/ingest_service';
import { AggregateRequest, EventFilter, QueryEventsRequest, StreamEventsRequest } from '../../gen/telemetry/v1/query_service';
import { decodeBoundedStruct } from './decode-bounded-struct';
import { decodeOverriding, lenientInt64, mergedOccurrences, type FieldOverride } from './decode-overriding';

/** The nesting limits that bound Struct decoding (INGEST_MAX_PAYLOAD_DEPTH, QUERY_PAYLOAD_CONTAINS_MAX_DEPTH). */
export interface DecodeLimits {
  readonly maxPayloadDepth: number;
  readonly payloadContainsMaxDepth: number;
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
  const timestamp = lenientSeconds(Timestamp.decode);
  const duration = lenientSeconds(Duration.decode);

  const event = (bytes: Uint8Array): Event =>
    decodeOverriding(bytes, Event.decode, {
      2: message<Event>((value) => ({ timestamp: timestamp(value) })),
      5: message<Event>((value) => ({ payload: decodeBoundedStruct(value, limits.maxPayloadDepth) })),
      7: message<Event>((value) => ({ receivedAt: timestamp(value) })),
    });
  const filter = (bytes: Uint8Array): EventFilter =>
    decodeOverriding(bytes, EventFilter.decode, {
      1: message<EventFilter>((value) => ({ startTime: timestamp(value) })),
      2: message<EventFilter>((value) => ({ endTime: timestamp(value) })),
      5: message<EventFilter>((value) => ({ payloadContains: decodeBoundedStruct(value, limits.payloadContainsMaxDepth) })),
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
        3: message<AggregateRequest>((value) => ({ bucket: duration(value) })),
      }),
  };
}

/** A singular message field: its occurrences merged, then decoded. */
function message<T>(decode: (merged: Uint8Array) => Partial<T>): FieldOverride<T> {
  return { wireType: WireType.LengthDelimited, decode: (occurrences) => decode(mergedOccurrences(occurrences)) };
}

/** A Timestamp or Duration decoder whose int64 `seconds` never throws (see lenientInt64). */
function lenientSeconds<T extends { seconds: number }>(decode: (bytes: Uint8Array) => T): (bytes: Uint8Array) => T {
  return (bytes) => decodeOverriding(bytes, decode, { 1: { wireType: WireType.Varint, decode: (occurrences) => ({ seconds: lenientInt64(occurrences.at(-1)!) }) as Partial<T> } });
}
