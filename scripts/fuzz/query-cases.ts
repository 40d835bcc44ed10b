import { EventFilter } from '../../src/gen/telemetry/v1/query_service';
import type { CaseContext, FuzzCase, FuzzRpc } from './fuzz-case';
import type { Prng } from './prng';
import { concat, deepStruct, lengthDelimited, secondsNanos, varintField } from './wire-bytes';

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;
/** google.protobuf.Duration's range in seconds, either way. */
const MAX_DURATION_SECONDS = 315_576_000_000;

/** A filter and what it must get: OK, or INVALID_ARGUMENT naming a field. */
interface FilterCase {
  readonly label: string;
  readonly filter: Uint8Array;
  readonly field?: string;
}

type QueryRpc = Exclude<FuzzRpc, 'Ingest' | 'IngestStream'>;

const filterOf = (fields: Partial<EventFilter>): Uint8Array => EventFilter.encode({ startTime: undefined, endTime: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined, ...fields }).finish();
const time = (field: 1 | 2, seconds: bigint | number, nanos = 0): Uint8Array => lengthDelimited(field, secondsNanos(seconds, nanos));
const strings = (field: 3 | 4, values: readonly (string | Uint8Array)[]): Uint8Array => concat(values.map((value) => lengthDelimited(field, value)));

/**
 * Garbage filters, sent to each of QueryEvents, StreamEvents and Aggregate
 * (they share EventFilter): huge and bad value lists, huge, deep and
 * unstorable payload_contains, out-of-range timestamps; and valid extremes
 * that must be served.
 */
function filterCases(ctx: CaseContext): FilterCase[] {
  const { filterMaxValues, payloadContainsMaxBytes, payloadContainsMaxDepth } = ctx.limits;
  const values = (count: number): string[] => Array.from({ length: count }, (_, i) => `t${i}`);
  const huge = 'x'.repeat(Math.min(1 << 20, Math.floor(ctx.limits.maxMessageBytes / 4)));
  const contains = (value: Record<string, unknown>): Uint8Array => filterOf({ payloadContains: value });
  const nested = (levels: number): Record<string, unknown> => {
    let value: Record<string, unknown> = { leaf: 1 };
    for (let i = 1; i < levels; i++) value = { a: value };
    return value;
  };
  const cases: FilterCase[] = [];
  for (const [field, name] of [
    [3, 'event_types'],
    [4, 'service_names'],
  ] as const) {
    cases.push(
      { label: `${name} with ${filterMaxValues} values (the limit)`, filter: strings(field, values(filterMaxValues)) },
      { label: `${name} with ${filterMaxValues + 1} values`, filter: strings(field, values(filterMaxValues + 1)), field: `filter.${name}` },
      { label: `${name} with 100 000 values`, filter: strings(field, values(100_000)), field: `filter.${name}` },
      { label: `${name} with an empty string`, filter: strings(field, ['']), field: `filter.${name}` },
      { label: `${name} with NUL`, filter: strings(field, ['lo\0g']), field: `filter.${name}` },
      { label: `${name} with a ${huge.length}-character value`, filter: strings(field, [huge]) },
      { label: `${name} with invalid UTF-8`, filter: strings(field, [Uint8Array.of(0x6c, 0xff, 0xc0, 0x80)]) },
    );
  }
  // {"k":"xxx"} is 8 bytes of JSON plus the string.
  cases.push(
    { label: `payload_contains at the size limit (${payloadContainsMaxBytes} bytes)`, filter: contains({ k: 'x'.repeat(payloadContainsMaxBytes - 8) }) },
    { label: 'payload_contains one byte over the size limit', filter: contains({ k: 'x'.repeat(payloadContainsMaxBytes - 7) }), field: 'filter.payload_contains' },
    { label: `payload_contains with a ${huge.length}-character string`, filter: contains({ k: huge }), field: 'filter.payload_contains' },
    { label: `payload_contains at the depth limit (${payloadContainsMaxDepth})`, filter: contains(nested(payloadContainsMaxDepth)) },
    { label: `payload_contains one level over the depth limit`, filter: contains(nested(payloadContainsMaxDepth + 1)), field: 'filter.payload_contains' },
    { label: 'payload_contains of objects 10 000 deep', filter: lengthDelimited(5, deepStruct(10_000)), field: 'filter.payload_contains' },
    { label: 'payload_contains of lists 10 000 deep', filter: lengthDelimited(5, deepStruct(10_000, 'lists')), field: 'filter.payload_contains' },
    { label: 'payload_contains with NaN', filter: contains({ a: Number.NaN }), field: 'filter.payload_contains' },
    { label: 'payload_contains with -Infinity', filter: contains({ a: Number.NEGATIVE_INFINITY }), field: 'filter.payload_contains' },
    { label: 'payload_contains with NUL in a string', filter: contains({ a: 'x\0' }), field: 'filter.payload_contains' },
    { label: 'payload_contains with NUL in a key', filter: contains({ 'a\0': 1 }), field: 'filter.payload_contains' },
    { label: 'payload_contains empty (no condition)', filter: contains({}) },
  );
  for (const [field, name] of [
    [1, 'start_time'],
    [2, 'end_time'],
  ] as const) {
    cases.push(
      { label: `${name} nanos = -1`, filter: time(field, ctx.nowSeconds, -1), field: `filter.${name}` },
      { label: `${name} nanos = 1e9`, filter: time(field, ctx.nowSeconds, 1_000_000_000), field: `filter.${name}` },
      { label: `${name} after 9999-12-31`, filter: time(field, MAX_SECONDS + 1), field: `filter.${name}` },
      { label: `${name} before 0001-01-01`, filter: time(field, MIN_SECONDS - 1), field: `filter.${name}` },
      { label: `${name} seconds = 2^53`, filter: time(field, 2n ** 53n), field: `filter.${name}` },
      { label: `${name} seconds = INT64_MAX`, filter: time(field, INT64_MAX), field: `filter.${name}` },
      { label: `${name} seconds = INT64_MIN`, filter: time(field, INT64_MIN), field: `filter.${name}` },
    );
  }
  cases.push(
    { label: 'end_time before start_time', filter: concat([time(1, ctx.nowSeconds), time(2, ctx.nowSeconds - 1)]), field: 'filter.end_time' },
    { label: 'end_time equal to start_time (empty)', filter: concat([time(1, ctx.nowSeconds), time(2, ctx.nowSeconds)]) },
    { label: 'the whole Timestamp range', filter: concat([time(1, MIN_SECONDS), time(2, MAX_SECONDS, 999_999_999)]) },
    { label: 'unknown fields in the filter', filter: concat([varintField(77, 1), lengthDelimited(78, 'x')]) },
  );
  return cases;
}

/** Cursors that are not ones the server issued: random base64url, huge, not base64url at all. */
function cursorCases(prng: Prng, ctx: CaseContext): { label: string; cursor: string | Uint8Array }[] {
  const base64url = (length: number): string => Buffer.from(prng.bytes(length)).toString('base64url');
  return [
    ...[8, 40, 60, 200].map((length) => ({ label: `random base64url of ${length} bytes`, cursor: base64url(length) })),
    { label: 'huge base64url', cursor: base64url(Math.min(1 << 20, Math.floor(ctx.limits.maxMessageBytes / 4))) },
    { label: 'base64url of 513 characters', cursor: 'A'.repeat(513) },
    { label: 'standard base64 with padding', cursor: Buffer.from(prng.bytes(41)).toString('base64') },
    { label: 'not base64', cursor: '!!!!' },
    { label: 'spaces', cursor: 'abc def' },
    { label: 'non-ASCII', cursor: '€€€€' },
    { label: 'NUL', cursor: 'AAAA\0AAAA' },
    { label: 'invalid UTF-8', cursor: Uint8Array.of(0x41, 0xff, 0x41) },
    { label: 'one character', cursor: 'A' },
  ];
}

/** Filters, cursors and out-of-range arguments for the three query RPCs. */
export function queryCases(prng: Prng, ctx: CaseContext): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const add = (rpc: QueryRpc, label: string, message: Uint8Array, field?: string): void => {
    cases.push({ name: `${rpc}: ${label}`, kind: 'targeted', rpc, messages: [message], expect: [field === undefined ? 'OK' : 'INVALID_ARGUMENT'], badRequestField: field });
  };
  for (const { label, filter, field } of filterCases(ctx)) {
    for (const rpc of ['QueryEvents', 'StreamEvents', 'Aggregate'] as const) add(rpc, `filter: ${label}`, lengthDelimited(1, filter), field);
  }
  const { maxLimit, maxPage } = ctx.limits;
  // QueryEventsRequest: filter 1, limit 2, cursor 3, page 4, order 5.
  for (const limit of [-1, INT32_MIN, maxLimit + 1, INT32_MAX]) add('QueryEvents', `limit = ${limit}`, varintField(2, limit), 'limit');
  add('QueryEvents', `limit = ${maxLimit} (the largest)`, varintField(2, maxLimit));
  for (const page of [-1, INT32_MIN, maxPage + 1, INT32_MAX]) add('QueryEvents', `page = ${page}`, varintField(4, page), 'page');
  add('QueryEvents', `page = ${maxPage} (the deepest)`, varintField(4, maxPage));
  add('QueryEvents', 'cursor and page together', concat([lengthDelimited(3, 'AAAA'), varintField(4, 1)]), 'cursor');
  for (const order of [3, -1, INT32_MAX, INT32_MIN]) {
    add('QueryEvents', `order = ${order}`, varintField(5, order), 'order');
    add('StreamEvents', `order = ${order}`, varintField(2, order), 'order');
  }
  for (const { label, cursor } of cursorCases(prng, ctx)) add('QueryEvents', `cursor: ${label}`, lengthDelimited(3, cursor), 'cursor');
  // StreamEventsRequest: max_events 3 (int64).
  for (const maxEvents of [-1n, INT64_MIN, INT64_MAX, 2n ** 53n]) add('StreamEvents', `max_events = ${maxEvents}`, varintField(3, maxEvents), 'max_events');
  add('StreamEvents', 'max_events = 2^53 - 1', varintField(3, 2n ** 53n - 1n));
  // AggregateRequest: group_by 2 (repeated enum, packed or not), bucket 3 (Duration).
  for (const groupBy of [[0], [3], [-1], [INT32_MAX], [1, 99]]) add('Aggregate', `group_by = [${groupBy.join(', ')}]`, concat(groupBy.map((value) => varintField(2, value))), 'group_by');
  add('Aggregate', 'group_by repeated, packed', lengthDelimited(2, Uint8Array.of(1, 2, 1, 2)));
  for (const [seconds, nanos] of [
    [0, 0],
    [-1, 0],
    [0, 999_999_999],
    [1, -1],
    [-1, 1],
    [0, 1_000_000_000],
    [MAX_DURATION_SECONDS + 1, 0],
    [2 ** 53, 0],
    [INT64_MAX, 0],
    [INT64_MIN, 0],
  ] as const) {
    add('Aggregate', `bucket = ${seconds}s ${nanos}ns`, lengthDelimited(3, secondsNanos(seconds, nanos)), 'bucket');
  }
  for (const seconds of [1, 86_400 * 36_525, MAX_DURATION_SECONDS]) add('Aggregate', `bucket = ${seconds}s`, lengthDelimited(3, secondsNanos(seconds, 0)));
  add('Aggregate', 'bucket = the largest Duration', lengthDelimited(3, secondsNanos(MAX_DURATION_SECONDS, 999_999_999)));
  return cases;
}
