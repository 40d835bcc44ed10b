import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { IngestSettings, QuerySettings } from '../../../config/load-config';
import type { Duration } from '../../../gen/google/protobuf/duration';
import type { Timestamp } from '../../../gen/google/protobuf/timestamp';
import { AggregateRequest, EventFilter, QueryEventsRequest, StreamEventsRequest } from '../../../gen/telemetry/v1/query_service';
import { decodeBoundedStruct } from './decode-bounded-struct';
import { decodeIngestRequest, readSecondsNanosUntil, type DecodedIngestRequest } from './decode-ingest-request';

export type { DecodedEvent, DecodedIngestRequest } from './decode-ingest-request';
import { AGGREGATE_REQUEST_FIELDS, EVENT_FILTER_FIELDS, QUERY_EVENTS_REQUEST_FIELDS, STREAM_EVENTS_REQUEST_FIELDS } from './field-tags';
import { decodeOverriding, lenientInt64, mergedOccurrences, type FieldOverride } from './decode-overriding';

/** The nesting limits that bound Struct decoding: INGEST_MAX_PAYLOAD_DEPTH and QUERY_PAYLOAD_CONTAINS_MAX_DEPTH. */
export interface DecodeLimits {
  readonly ingest: Pick<IngestSettings, 'maxPayloadDepth'>;
  readonly query: Pick<QuerySettings, 'payloadContainsMaxDepth'>;
}

/** Request deserializers of both services. */
export interface RequestDecoders {
  readonly ingestRequest: (bytes: Uint8Array) => DecodedIngestRequest;
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
  const filter = (bytes: Uint8Array): EventFilter =>
    decodeOverriding(bytes, EventFilter.decode, {
      [EVENT_FILTER_FIELDS.startTime]: message<EventFilter>((value) => ({ startTime: decodeLenientSeconds(value) })),
      [EVENT_FILTER_FIELDS.endTime]: message<EventFilter>((value) => ({ endTime: decodeLenientSeconds(value) })),
      [EVENT_FILTER_FIELDS.payloadContains]: message<EventFilter>((value) => ({ payloadContains: decodeBoundedStruct(value, limits.query.payloadContainsMaxDepth) })),
    });
  const filterField = <T extends { filter: EventFilter | undefined }>(): FieldOverride<T> => message<T>((value) => ({ filter: filter(value) }) as Partial<T>);

  return {
    ingestRequest: (bytes) => decodeIngestRequest(bytes, limits.ingest.maxPayloadDepth),
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
 * A Timestamp or a Duration (the same two fields: int64 seconds = 1, int32
 * nanos = 2) whose seconds never throw (see readSecondsNanosUntil).
 */
function decodeLenientSeconds(bytes: Uint8Array): Timestamp & Duration {
  return readSecondsNanosUntil(new BinaryReader(bytes), bytes, bytes.length, undefined);
}

/** A singular message field: its occurrences merged, then decoded. */
function message<T>(decode: (merged: Uint8Array) => Partial<T>): FieldOverride<T> {
  return { wireType: WireType.LengthDelimited, decode: (occurrences) => decode(mergedOccurrences(occurrences)) };
}

