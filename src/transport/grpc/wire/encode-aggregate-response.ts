import type { AggregateCount } from '../../../domain/query/event-reader';
import { microsToTimePoint } from '../../../domain/query/time-point';
import { Timestamp } from '../../../gen/google/protobuf/timestamp';
import { lengthPrefix } from './encode-query-responses';
import { AGGREGATE_ROW, AGGREGATE_ROWS } from './field-tags';

/** The counts of an Aggregate as the handler hands them over, encoded as they are serialized. */
export interface AggregateCounts {
  readonly counts: readonly AggregateCount[];
}

/** Bytes of a varint holding `value`, a whole number in 0..2^53 (int64 and int32 fields that are never negative). */
function varintLength(value: number): number {
  let length = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) length++;
  return length;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  let rest = value;
  while (rest >= 0x80) {
    buffer[at++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  buffer[at++] = rest;
  return at;
}

/** A string field (tag, length, UTF-8), made once per distinct string: a result repeats few types and services. */
function stringField(cache: Map<string, Buffer>, tag: number, text: string): Buffer {
  let field = cache.get(text);
  if (field === undefined) {
    const length = Buffer.byteLength(text, 'utf8');
    field = Buffer.allocUnsafe(1 + varintLength(length) + length);
    const at = writeVarint(field, 1, length);
    field[0] = tag;
    field.write(text, at, 'utf8');
    cache.set(text, field);
  }
  return field;
}

/** The Timestamp field of a bucket start (tag, length, Timestamp as the generated codec writes it), made once per distinct bucket. */
function bucketField(cache: Map<bigint, Buffer>, micros: bigint): Buffer {
  let field = cache.get(micros);
  if (field === undefined) {
    const timestamp = Timestamp.encode(microsToTimePoint(micros)).finish();
    field = Buffer.concat([lengthPrefix(AGGREGATE_ROW.bucketStart, timestamp.length), timestamp]);
    cache.set(micros, field);
  }
  return field;
}

/**
 * An AggregateResponse's bytes, the same as AggregateResponse.encode gives
 * (fields in number order, defaults left out), written in one buffer
 * without an AggregateRow or a Timestamp object per row: each distinct type,
 * service and bucket is encoded once and copied. A whole-tenant result has
 * 8 640 rows (docs/performance.md, "Rollups").
 */
export function serializeAggregateCounts(response: AggregateCounts): Buffer {
  const types = new Map<string, Buffer>();
  const services = new Map<string, Buffer>();
  const buckets = new Map<bigint, Buffer>();
  const rows = response.counts.map((count) => {
    const eventType = count.eventType === undefined || count.eventType === '' ? undefined : stringField(types, AGGREGATE_ROW.eventType, count.eventType);
    const serviceName = count.serviceName === undefined || count.serviceName === '' ? undefined : stringField(services, AGGREGATE_ROW.serviceName, count.serviceName);
    const bucketStart = count.bucketStartUs === undefined ? undefined : bucketField(buckets, count.bucketStartUs);
    const length = (eventType?.length ?? 0) + (serviceName?.length ?? 0) + (bucketStart?.length ?? 0) + (count.count === 0 ? 0 : 1 + varintLength(count.count));
    return { eventType, serviceName, bucketStart, count: count.count, length };
  });
  const total = rows.reduce((sum, row) => sum + 1 + varintLength(row.length) + row.length, 0);
  const buffer = Buffer.allocUnsafe(total);
  let at = 0;
  for (const row of rows) {
    buffer[at++] = AGGREGATE_ROWS;
    at = writeVarint(buffer, at, row.length);
    if (row.eventType !== undefined) at += row.eventType.copy(buffer, at);
    if (row.serviceName !== undefined) at += row.serviceName.copy(buffer, at);
    if (row.bucketStart !== undefined) at += row.bucketStart.copy(buffer, at);
    if (row.count !== 0) {
      buffer[at++] = AGGREGATE_ROW.count;
      at = writeVarint(buffer, at, row.count);
    }
  }
  return buffer;
}
