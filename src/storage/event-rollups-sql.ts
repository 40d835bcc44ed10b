import type { AggregateGrouping, AggregateSelection } from '../domain/query/event-reader';
import { microsToSqlTimestamp } from './sql-timestamp';
import { anyOf, filterConditions, groupedCounts, Params, withRetentionCutoff, type SqlQuery } from './event-query-sql';

/**
 * The per-minute rollups of events (migrations/0005_event-rollups.sql;
 * docs/architecture.md, "Rollups"): what the ingest merge adds, how
 * Aggregate reads them, how the compaction and the retention job move and
 * delete them.
 */

const MICROS_PER_MINUTE = 60_000_000n;
const MICROS_PER_HOUR = 3_600_000_000n;

/** The start of a minute, independent of the session's TimeZone (date_trunc is not). */
const minuteOf = (column: string): string => `date_bin('1 minute', ${column}, TIMESTAMPTZ 'epoch')`;

/**
 * The CTE that the ingest MERGE (src/storage/event-writer.ts) carries after
 * its `inserted` CTE: one delta row per (tenant, minute, type, service) of
 * the rows newly stored by the statement (so duplicates never count), in
 * the same transaction as the events. Appended, never updated: concurrent
 * groups writing the same minute never wait for each other.
 */
export const ROLLUP_DELTAS_CTE = `, rolled_up AS (
  INSERT INTO event_rollup_deltas (tenant_id, minute, event_type, service_name, events)
  SELECT s.tenant_id, ${minuteOf('s.ts')}, s.event_type, s.service_name, count(*)
  FROM inserted i JOIN staged s ON s.tenant_id = i.tenant_id AND s.event_id = i.event_id
  GROUP BY 1, 2, 3, 4
)`;

/**
 * Whether the rollups answer this Aggregate exactly: no payload condition
 * (the rollups do not know payloads), and every bound that cuts time (the
 * range's start and end, the bucket width) on whole minutes, so that each
 * minute falls whole into one bucket and inside or outside the range. The
 * retention cutoff may fall inside a minute: that minute is counted from
 * the events (see rollupAggregateQuery).
 */
export function rollupsCanAnswer(selection: AggregateSelection, grouping: AggregateGrouping): boolean {
  const { filter } = selection;
  return filter.payloadContains === undefined && onMinute(filter.startUs) && onMinute(filter.endUs) && onMinute(grouping.bucketUs);
}

function onMinute(micros: bigint | undefined): boolean {
  return micros === undefined || micros % MICROS_PER_MINUTE === 0n;
}

/** `micros` rounded down to a multiple of `unit` (from the epoch). */
function floorTo(micros: bigint, unit: bigint): bigint {
  return micros - (((micros % unit) + unit) % unit);
}

/** `micros` rounded up to a multiple of `unit`. */
function ceilTo(micros: bigint, unit: bigint): bigint {
  const floor = floorTo(micros, unit);
  return floor === micros ? micros : floor + unit;
}

/** A half-open range [from, to) of instants; undefined = unbounded on that side. */
interface Range {
  readonly from: bigint | undefined;
  readonly to: bigint | undefined;
}

/** The conditions of `column` in `range`. */
function inRange(column: string, range: Range, params: Params): string[] {
  return [
    ...(range.from === undefined ? [] : [`${column} >= ${params.add(microsToSqlTimestamp(range.from))}::timestamptz`]),
    ...(range.to === undefined ? [] : [`${column} < ${params.add(microsToSqlTimestamp(range.to))}::timestamptz`]),
  ];
}

/**
 * Aggregate from the rollups, grouped and bounded exactly as aggregateQuery
 * groups the events (groupedCounts, over each rollup row's minute or hour
 * start as its "timestamp": a minute lies whole in one bucket when the width
 * is whole minutes, an hour when it is whole hours). One statement, so one
 * snapshot: a compaction committing meanwhile changes nothing. The range
 * [effective start, end) is read as:
 *
 * * the part minute at the effective start (the later of the range's start
 *   and the retention cutoff), when it falls inside a minute: from the
 *   events themselves, up to the next whole minute;
 * * the deltas (not compacted yet) of every whole minute;
 * * the compacted counts: by hour for the whole hours inside the range when
 *   the bucket (or its absence) allows, by minute for the rest.
 *
 * Only for requests rollupsCanAnswer accepts.
 */
export function rollupAggregateQuery(selection: AggregateSelection, grouping: AggregateGrouping, limit: number): SqlQuery {
  if (!rollupsCanAnswer(selection, grouping)) throw new Error('the rollups cannot answer this Aggregate exactly (a payload condition, or a bound off whole minutes)');
  const { filter } = selection;
  const params = new Params();
  const startUs = withRetentionCutoff(selection).filter.startUs;
  const whole: Range = { from: startUs === undefined ? undefined : ceilTo(startUs, MICROS_PER_MINUTE), to: filter.endUs };
  const keys = [...anyOf('event_type', filter.eventTypes, params), ...anyOf('service_name', filter.serviceNames, params)];
  const read = (table: string, column: string, range: Range): string =>
    `SELECT ${column} AS "timestamp", event_type, service_name, events FROM ${table} WHERE ${[`tenant_id = ${params.add(selection.tenantId)}::uuid`, ...inRange(column, range, params), ...keys].join(' AND ')}`;
  const parts = [read('event_rollup_deltas', 'minute', whole)];
  const hours: Range = { from: whole.from === undefined ? undefined : ceilTo(whole.from, MICROS_PER_HOUR), to: whole.to === undefined ? undefined : floorTo(whole.to, MICROS_PER_HOUR) };
  const byHour = (grouping.bucketUs === undefined || grouping.bucketUs % MICROS_PER_HOUR === 0n) && (hours.from === undefined || hours.to === undefined || hours.from < hours.to);
  if (byHour) {
    parts.push(read('event_rollups_hourly', 'hour', hours));
    if (hours.from !== undefined) parts.push(read('event_rollups', 'minute', { from: whole.from, to: hours.from }));
    if (hours.to !== undefined) parts.push(read('event_rollups', 'minute', { from: hours.to, to: whole.to }));
  } else {
    parts.push(read('event_rollups', 'minute', whole));
  }
  if (startUs !== undefined && whole.from !== startUs) {
    const endUs = filter.endUs !== undefined && filter.endUs < whole.from! ? filter.endUs : whole.from!;
    const edge = filterConditions({ tenantId: selection.tenantId, filter: { ...filter, startUs, endUs } }, params);
    parts.push(`SELECT ${minuteOf('"timestamp"')}, event_type, service_name, 1 FROM events WHERE ${edge.join(' AND ')}`);
  }
  return groupedCounts(params, grouping, `(${parts.join(' UNION ALL ')}) AS rollups`, 'coalesce(sum(events), 0)::bigint', limit);
}

/**
 * One compaction batch: moves up to $1 deltas into event_rollups and
 * event_rollups_hourly, summed by key, in one statement (the caller's
 * transaction holds the compaction's advisory lock, so the compacted tables
 * have one writer and their upserts never wait). Returns how many deltas it
 * moved. The batch is taken in index order: the entries of deltas already
 * moved are marked dead by the first scan that meets them, so a round's
 * later batches do not wade through what its earlier ones deleted (a heap
 * scan would, until vacuum).
 */
export const COMPACT_BATCH = `WITH moved AS (
  DELETE FROM event_rollup_deltas WHERE ctid = ANY(ARRAY(SELECT ctid FROM event_rollup_deltas ORDER BY tenant_id, minute LIMIT $1))
  RETURNING tenant_id, minute, event_type, service_name, events
), summed AS (
  INSERT INTO event_rollups (tenant_id, minute, event_type, service_name, events)
  SELECT tenant_id, minute, event_type, service_name, sum(events) FROM moved
  GROUP BY tenant_id, minute, event_type, service_name
  ORDER BY tenant_id, minute, event_type, service_name
  ON CONFLICT (tenant_id, minute, event_type, service_name) DO UPDATE SET events = event_rollups.events + excluded.events
), hourly AS (
  INSERT INTO event_rollups_hourly (tenant_id, hour, event_type, service_name, events)
  SELECT tenant_id, date_bin('1 hour', minute, TIMESTAMPTZ 'epoch'), event_type, service_name, sum(events) FROM moved
  GROUP BY 1, 2, 3, 4
  ORDER BY 1, 2, 3, 4
  ON CONFLICT (tenant_id, hour, event_type, service_name) DO UPDATE SET events = event_rollups_hourly.events + excluded.events
)
SELECT count(*)::int AS moved FROM moved`;

/**
 * Deletes up to $3 rows of each rollup table of tenant $1 whose whole
 * minute (or hour) is before $2 (a minute or hour that the cutoff cuts
 * stays: readers count its retained part at a finer grain). Returns how many
 * it deleted.
 */
export const EXPIRE_BATCH = `WITH compacted AS (
  DELETE FROM event_rollups WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM event_rollups WHERE tenant_id = $1::uuid AND minute <= $2::timestamptz - interval '1 minute' LIMIT $3))
  RETURNING 1
), deltas AS (
  DELETE FROM event_rollup_deltas WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM event_rollup_deltas WHERE tenant_id = $1::uuid AND minute <= $2::timestamptz - interval '1 minute' LIMIT $3))
  RETURNING 1
), hourly AS (
  DELETE FROM event_rollups_hourly WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM event_rollups_hourly WHERE tenant_id = $1::uuid AND hour <= $2::timestamptz - interval '1 hour' LIMIT $3))
  RETURNING 1
)
SELECT (SELECT count(*) FROM compacted)::int + (SELECT count(*) FROM deltas)::int + (SELECT count(*) FROM hourly)::int AS deleted`;
