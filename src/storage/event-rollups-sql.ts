import type { AggregateGrouping, AggregateSelection } from '../domain/query/event-reader';
import { microsToSqlTimestamp } from './sql-timestamp';
import { anyOf, filterConditions, groupedCounts, Params, type SqlQuery } from './event-query-sql';

/**
 * The per-minute rollups of events (migrations/0005_event-rollups.sql;
 * docs/architecture.md, "Rollups"): what the ingest merge adds, how
 * Aggregate reads them, how the compaction and the retention job move and
 * delete them.
 */

const MICROS_PER_MINUTE = 60_000_000n;

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

/** The first whole minute at or after `micros`. */
function ceilMinute(micros: bigint): bigint {
  const rest = ((micros % MICROS_PER_MINUTE) + MICROS_PER_MINUTE) % MICROS_PER_MINUTE;
  return rest === 0n ? micros : micros - rest + MICROS_PER_MINUTE;
}

/**
 * Aggregate from the rollups: the sums of the compacted rows and of the
 * deltas, in one statement (one snapshot, so a compaction committing
 * meanwhile changes nothing), grouped and bounded exactly as aggregateQuery
 * groups the events (groupedCounts, over each minute's start as its
 * "timestamp": a minute lies whole in one bucket when the width is whole
 * minutes). When the effective start (the later of the range's start and the
 * retention cutoff) falls inside a minute, that part minute is counted from
 * the events themselves, from the effective start to the next whole minute.
 * Only for requests rollupsCanAnswer accepts.
 */
export function rollupAggregateQuery(selection: AggregateSelection, grouping: AggregateGrouping, limit: number): SqlQuery {
  if (!rollupsCanAnswer(selection, grouping)) throw new Error('the rollups cannot answer this Aggregate exactly (a payload condition, or a bound off whole minutes)');
  const { filter } = selection;
  const params = new Params();
  const startUs = selection.notBeforeUs === undefined || (filter.startUs !== undefined && filter.startUs >= selection.notBeforeUs) ? filter.startUs : selection.notBeforeUs;
  const wholeFromUs = startUs === undefined ? undefined : ceilMinute(startUs);
  const conditions = [`tenant_id = ${params.add(selection.tenantId)}::uuid`];
  if (wholeFromUs !== undefined) conditions.push(`minute >= ${params.add(microsToSqlTimestamp(wholeFromUs))}::timestamptz`);
  if (filter.endUs !== undefined) conditions.push(`minute < ${params.add(microsToSqlTimestamp(filter.endUs))}::timestamptz`);
  conditions.push(...anyOf('event_type', filter.eventTypes, params), ...anyOf('service_name', filter.serviceNames, params));
  const where = conditions.join(' AND ');
  const parts = [
    `SELECT minute AS "timestamp", event_type, service_name, events FROM event_rollups WHERE ${where}`,
    `SELECT minute AS "timestamp", event_type, service_name, events FROM event_rollup_deltas WHERE ${where}`,
  ];
  if (startUs !== undefined && wholeFromUs !== startUs) {
    const endUs = filter.endUs !== undefined && filter.endUs < wholeFromUs! ? filter.endUs : wholeFromUs!;
    const edge = filterConditions({ tenantId: selection.tenantId, filter: { ...filter, startUs, endUs } }, params);
    parts.push(`SELECT ${minuteOf('"timestamp"')}, event_type, service_name, 1 FROM events WHERE ${edge.join(' AND ')}`);
  }
  return groupedCounts(params, grouping, `(${parts.join(' UNION ALL ')}) AS rollups`, 'coalesce(sum(events), 0)::bigint', limit);
}

/**
 * One compaction batch: moves up to $1 deltas into event_rollups, summed
 * by key, in one statement (the caller's transaction holds the compaction's
 * advisory lock, so event_rollups has one writer and its upserts never
 * wait). Returns how many deltas it moved.
 */
export const COMPACT_BATCH = `WITH moved AS (
  DELETE FROM event_rollup_deltas WHERE ctid = ANY(ARRAY(SELECT ctid FROM event_rollup_deltas LIMIT $1))
  RETURNING tenant_id, minute, event_type, service_name, events
), summed AS (
  INSERT INTO event_rollups (tenant_id, minute, event_type, service_name, events)
  SELECT tenant_id, minute, event_type, service_name, sum(events) FROM moved
  GROUP BY tenant_id, minute, event_type, service_name
  ORDER BY tenant_id, minute, event_type, service_name
  ON CONFLICT (tenant_id, minute, event_type, service_name) DO UPDATE SET events = event_rollups.events + excluded.events
)
SELECT count(*)::int AS moved FROM moved`;

/**
 * Deletes up to $3 compacted rows and up to $3 deltas of tenant $1
 * whose whole minute is before $2 (a minute that the cutoff cuts stays:
 * readers count its retained part from the events). Returns how many it
 * deleted.
 */
export const EXPIRE_BATCH = `WITH compacted AS (
  DELETE FROM event_rollups WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM event_rollups WHERE tenant_id = $1::uuid AND minute <= $2::timestamptz - interval '1 minute' LIMIT $3))
  RETURNING 1
), deltas AS (
  DELETE FROM event_rollup_deltas WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM event_rollup_deltas WHERE tenant_id = $1::uuid AND minute <= $2::timestamptz - interval '1 minute' LIMIT $3))
  RETURNING 1
)
SELECT (SELECT count(*) FROM compacted)::int + (SELECT count(*) FROM deltas)::int AS deleted`;
