import { WireType } from '@bufbuild/protobuf/wire';

/**
 * The tags (field number << 3 | wire type) the hand-written codecs in this
 * folder read and write, named by message and field, from the .proto files
 * (proto/telemetry/v1, and google/protobuf for Struct, Timestamp and
 * Duration). test/unit/wire-descriptor-walk.test.ts walks the descriptor set
 * and fails when a field of a message these codecs handle is missing here or
 * dropped by a codec.
 */
export function tag(fieldNumber: number, wireType: WireType): number {
  return (fieldNumber << 3) | wireType;
}

const LEN = WireType.LengthDelimited;

/** telemetry.v1.Event. */
export const EVENT = {
  eventId: tag(1, LEN),
  timestamp: tag(2, LEN),
  eventType: tag(3, LEN),
  serviceName: tag(4, LEN),
  payload: tag(5, LEN),
  payloadJson: tag(6, LEN),
  receivedAt: tag(7, LEN),
} as const;

/** The `repeated Event events = 1` of IngestRequest, IngestStreamRequest, QueryEventsResponse and StreamEventsResponse. */
export const EVENTS = tag(1, LEN);

/** telemetry.v1.AggregateRow. */
export const AGGREGATE_ROW = {
  eventType: tag(1, LEN),
  serviceName: tag(2, LEN),
  bucketStart: tag(3, LEN),
  count: tag(4, WireType.Varint),
} as const;

/** The `repeated AggregateRow rows = 1` of AggregateResponse. */
export const AGGREGATE_ROWS = tag(1, LEN);

/** Field numbers of the request fields decoded by overrides (see request-decoders.ts). */
export const EVENT_FILTER_FIELDS = { startTime: 1, endTime: 2, payloadContains: 5 } as const;
export const QUERY_EVENTS_REQUEST_FIELDS = { filter: 1 } as const;
export const STREAM_EVENTS_REQUEST_FIELDS = { filter: 1, maxEvents: 3 } as const;
export const AGGREGATE_REQUEST_FIELDS = { filter: 1, bucket: 3 } as const;
export const INGEST_REQUEST_FIELDS = { events: 1 } as const;

/** google.protobuf.Timestamp and google.protobuf.Duration (the same two fields). */
export const SECONDS_NANOS = {
  seconds: tag(1, WireType.Varint),
  nanos: tag(2, WireType.Varint),
} as const;

/** google.protobuf.Struct and its map entry (Struct.FieldsEntry). */
export const STRUCT = {
  fields: tag(1, LEN),
  entryKey: tag(1, LEN),
  entryValue: tag(2, LEN),
} as const;

/** google.protobuf.Value. */
export const VALUE = {
  nullValue: tag(1, WireType.Varint),
  numberValue: tag(2, WireType.Bit64),
  stringValue: tag(3, LEN),
  boolValue: tag(4, WireType.Varint),
  structValue: tag(5, LEN),
  listValue: tag(6, LEN),
} as const;

/** google.protobuf.ListValue. */
export const LIST_VALUE = { values: tag(1, LEN) } as const;
