import type { AggregateGrouping, AggregateSelection, EventSelection, PageWindow } from '../domain/query/event-reader';
import { microsColumn, microsToSqlTimestamp } from './sql-timestamp';

/** A statement and its bound values: nothing a client sends is ever spliced into SQL text. */
export interface SqlQuery {
  readonly text: string;
  readonly values: unknown[];
}

/** Collects bound values and hands out their placeholders. */
export class Params {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

const MICROS_PER_DAY = 86_400_000_000n;

/** 0001-01-01T00:00:00Z, the earliest google.protobuf.Timestamp (and the earliest event timestamp stored). */
const FIRST_INSTANT = "TIMESTAMPTZ '0001-01-01 00:00:00+00'";
const FIRST_INSTANT_US = '-62135596800000000';

/**
 * The WHERE conditions of a selection, tenant first: every statement is bound
 * to the caller's tenant, and the tenant-first indexes serve it.
 */
export function filterConditions(selection: Omit<EventSelection, 'order'>, params: Params): string[] {
  const { filter } = selection;
  const conditions = [`tenant_id = ${params.add(selection.tenantId)}::uuid`];
  if (filter.startUs !== undefined) conditions.push(`"timestamp" >= ${params.add(microsToSqlTimestamp(filter.startUs))}::timestamptz`);
  if (filter.endUs !== undefined) conditions.push(`"timestamp" < ${params.add(microsToSqlTimestamp(filter.endUs))}::timestamptz`);
  // Past the tenant's retention: never returned, deleted or not (and the partitions below it are pruned).
  if (selection.retentionCutoffUs !== undefined) conditions.push(`"timestamp" >= ${params.add(microsToSqlTimestamp(selection.retentionCutoffUs))}::timestamptz`);
  conditions.push(...anyOf('event_type', filter.eventTypes, params), ...anyOf('service_name', filter.serviceNames, params));
  if (filter.payloadContains !== undefined) conditions.push(`payload @> ${params.add(filter.payloadContains)}::jsonb`);
  return conditions;
}

/** `=` for one value lets the planner pick the (tenant, column, timestamp) index in keyset order; ANY for several. */
export function anyOf(column: string, values: readonly string[], params: Params): string[] {
  if (values.length === 0) return [];
  if (values.length === 1) return [`${column} = ${params.add(values[0])}`];
  return [`${column} = ANY(${params.add(values)}::text[])`];
}

/**
 * One page of events in keyset order. After a position, the row comparison
 * `("timestamp", event_id) < (...)` is an index condition of the
 * (tenant_id, "timestamp" DESC, event_id DESC) index (scanned backward for
 * oldest first): a page costs the same at any depth. OFFSET only in page mode.
 *
 * The payload comes as jsonb's text, and only when it is at most
 * `maxPayloadBytes`: a larger row (stored before ingest bounded the stored
 * form) comes with its size and no text, so that it can never reach the
 * client library as one huge string (pg-protocol throws past 512 MiB, in its
 * socket handler). The lateral subquery (OFFSET 0 keeps it from being
 * inlined) renders each payload once for both columns, for the page's rows
 * only: they are chosen (ordered, limited) before any payload is rendered.
 */
export function pageQuery(selection: EventSelection, window: PageWindow, maxPayloadBytes: number): SqlQuery {
  const params = new Params();
  const conditions = filterConditions(selection, params);
  const newestFirst = selection.order === 'newest-first';
  if (window.after !== undefined) {
    const at = params.add(microsToSqlTimestamp(window.after.timestampUs));
    const id = params.add(window.after.eventId);
    conditions.push(`("timestamp", event_id) ${newestFirst ? '<' : '>'} (${at}::timestamptz, ${id}::text)`);
    // Redundant with the row comparison, which partition pruning cannot use: this one lets the planner skip
    // the partitions on the far side of the position (events is partitioned by timestamp).
    conditions.push(`"timestamp" ${newestFirst ? '<=' : '>='} ${at}::timestamptz`);
  }
  const direction = newestFirst ? 'DESC' : 'ASC';
  const order = `ORDER BY "timestamp" ${direction}, event_id ${direction}`;
  // The page's rows are chosen first and only theirs are rendered: when the plan sorts (a small tenant read
  // by a bitmap scan, say), every match used to reach the sort with its payload rendered: 1500 events of
  // 60 KB were 93 MB sorted on disk for a page of 1001.
  let rows = `SELECT event_id, "timestamp", event_type, service_name, received_at, payload FROM events WHERE ${conditions.join(' AND ')} ${order} LIMIT ${params.add(window.limit)}`;
  if (window.offset !== undefined && window.offset > 0) rows += ` OFFSET ${params.add(window.offset)}`;
  let text = `${selectEvents(maxPayloadBytes, params, `(${rows}) AS events`, window.maxBytes !== undefined)} ${order}`;
  if (window.maxBytes !== undefined) text = withinBytes(text, direction, params.add(window.maxBytes));
  return { text, values: params.values };
}

/**
 * A page whose rows stop once their payloads reach `maxBytes` (a parameter):
 * each row comes with its payload while the rows before it hold fewer
 * bytes, the first row past that comes without it and with `beyond` set
 * (so that the reader knows more follow), and no later row is sent. The
 * running sums are over the page's own order, which its subquery already
 * has (no sort of the payloads); PostgreSQL still renders each row's payload
 * to measure it, but the server never receives what the response cannot
 * carry: a page of 1000 events of 60 KB was ~60 MB read and parsed for
 * the ~70 events that fit in one 4 MiB response.
 */
function withinBytes(page: string, direction: 'ASC' | 'DESC', maxBytes: string): string {
  // One window (one pass): the bytes before each row, and the previous row's own, so the bytes before that one.
  const before = `ORDER BY page.order_timestamp ${direction}, page.event_id ${direction} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING`;
  return (
    `SELECT event_id, timestamp_us, event_type, service_name, CASE WHEN bytes_before < ${maxBytes} THEN payload_text END AS payload_text, payload_bytes, received_at_us, bytes_before >= ${maxBytes} AS beyond` +
    ` FROM (SELECT page.*, coalesce(sum(page.payload_bytes) OVER before, 0) AS bytes_before, coalesce(lag(page.payload_bytes) OVER before, 0) AS previous_bytes FROM (${page}) AS page WINDOW before AS (${before})) AS counted` +
    ` WHERE bytes_before - previous_bytes < ${maxBytes} ORDER BY order_timestamp ${direction}, event_id ${direction}`
  );
}

/** The select list of every read of events, over `from` (the events table, or a page's rows); see pageQuery for the payload's bound. */
function selectEvents(maxPayloadBytes: number, params: Params, from: string, withOrderColumn = false): string {
  const bytes = 'octet_length(rendered.payload_text)';
  return (
    `SELECT event_id, ${microsColumn('"timestamp"', 'timestamp_us')}, ${withOrderColumn ? '"timestamp" AS order_timestamp, ' : ''}event_type, service_name,` +
    ` CASE WHEN ${bytes} <= ${params.add(maxPayloadBytes)} THEN rendered.payload_text END AS payload_text, ${bytes} AS payload_bytes,` +
    ` ${microsColumn('received_at', 'received_at_us')}` +
    ` FROM ${from} CROSS JOIN LATERAL (SELECT events.payload::text AS payload_text OFFSET 0) AS rendered`
  );
}

/**
 * The events of a selection among the given keys (a commit notice's), oldest
 * first: the unique (tenant_id, event_id) index finds them, and the range of
 * their timestamps bounds the scan to the partitions that can hold them.
 */
export function keysQuery(selection: EventSelection, keys: readonly { timestampUs: bigint; eventId: string }[], maxPayloadBytes: number): SqlQuery {
  const params = new Params();
  const select = selectEvents(maxPayloadBytes, params, 'events');
  const conditions = filterConditions(selection, params);
  let first = keys[0]!.timestampUs;
  let last = first;
  for (const key of keys) {
    if (key.timestampUs < first) first = key.timestampUs;
    if (key.timestampUs > last) last = key.timestampUs;
  }
  conditions.push(
    `event_id = ANY(${params.add(keys.map((key) => key.eventId))}::text[])`,
    `"timestamp" BETWEEN ${params.add(microsToSqlTimestamp(first))}::timestamptz AND ${params.add(microsToSqlTimestamp(last))}::timestamptz`,
  );
  return { text: `${select} WHERE ${conditions.join(' AND ')} ORDER BY "timestamp", event_id`, values: params.values };
}

/** The number of matches of a selection. */
export function countQuery(selection: Omit<EventSelection, 'order'>): SqlQuery {
  const params = new Params();
  return { text: `SELECT count(*) AS total FROM events WHERE ${filterConditions(selection, params).join(' AND ')}`, values: params.values };
}

/**
 * Counts per group, at most `limit` rows, in no particular order (no sort
 * at all, so the groups can always be hashed; the caller orders the few
 * rows). Which `limit` groups come when there are more is unspecified: the
 * caller asks for one more than its bound to learn that the bound is passed.
 * Buckets come from date_bin with the unix epoch as origin; the width goes in
 * as whole days plus seconds, exact to the microsecond (date_bin refuses
 * months, and a plain float of microseconds would round past 2^53).
 *
 * A bucket that would start before 0001-01-01 (events in the first width
 * after it: a 7-day bucket aligned to the epoch starts in 1 BC, a 10 000-year
 * one before PostgreSQL's first timestamp, where date_bin fails) starts at
 * 0001-01-01 instead, so that bucket_start is always a valid Timestamp. Only
 * rows in that first width pay for the exact bigint alignment test.
 */
export function aggregateQuery(selection: AggregateSelection, grouping: AggregateGrouping, limit: number): SqlQuery {
  const params = new Params();
  const where = filterConditions(withRetentionCutoff(selection), params).join(' AND ');
  return groupedCounts(params, grouping, `events WHERE ${where}`, 'count(*)', limit);
}

/**
 * The selection with the tenant's retention cutoff folded into its start:
 * an event before the cutoff is never counted.
 */
export function withRetentionCutoff(selection: AggregateSelection): Omit<EventSelection, 'order'> {
  const { notBeforeUs, ...rest } = selection;
  if (notBeforeUs === undefined || (rest.filter.startUs !== undefined && rest.filter.startUs >= notBeforeUs)) return rest;
  return { ...rest, filter: { ...rest.filter, startUs: notBeforeUs } };
}

/**
 * The grouping statement over `source` (a FROM item with its conditions,
 * whose rows have "timestamp", event_type and service_name columns),
 * counting each row as `counted` (count(*) for events; the rollups' sum).
 * Shared by the scan and the rollups so that both group, bucket and bound
 * the result the same way (see aggregateQuery).
 */
export function groupedCounts(params: Params, grouping: AggregateGrouping, source: string, counted: string, limit: number): SqlQuery {
  /** Each grouping column: how the inner query makes it, its name, how the outer query returns it. */
  const dimensions: { make: string; name: string; output: string }[] = [];
  if (grouping.bucketUs !== undefined) {
    const days = params.add(Number(grouping.bucketUs / MICROS_PER_DAY));
    const seconds = params.add(Number(grouping.bucketUs % MICROS_PER_DAY) / 1e6);
    const widthUs = `${params.add(grouping.bucketUs.toString())}::bigint`;
    const width = `make_interval(days => ${days}::integer, secs => ${seconds}::double precision)`;
    const us = `(extract(epoch FROM "timestamp") * 1000000)::bigint`;
    const alignedUs = `${us} - ((${us} % ${widthUs}) + ${widthUs}) % ${widthUs}`;
    dimensions.push({
      make:
        `CASE WHEN "timestamp" < ${FIRST_INSTANT} + ${width} AND ${alignedUs} < ${FIRST_INSTANT_US} THEN ${FIRST_INSTANT}` +
        ` ELSE date_bin(${width}, "timestamp", TIMESTAMPTZ 'epoch') END AS bucket_start`,
      name: 'bucket_start',
      output: microsColumn('bucket_start', 'bucket_start_us'),
    });
  }
  if (grouping.byEventType) dimensions.push({ make: 'event_type', name: 'event_type', output: 'event_type' });
  if (grouping.byServiceName) dimensions.push({ make: 'service_name', name: 'service_name', output: 'service_name' });
  const names = dimensions.map((dimension) => dimension.name).join(', ');
  const grouped = dimensions.length > 0 ? ` GROUP BY ${names}` : '';
  const inner = `SELECT ${[...dimensions.map((dimension) => dimension.make), `${counted} AS matched`].join(', ')} FROM ${source}${grouped} LIMIT ${params.add(limit)}`;
  const text = `SELECT ${[...dimensions.map((dimension) => dimension.output), 'matched'].join(', ')} FROM (${inner}) AS groups`;
  return { text, values: params.values };
}
