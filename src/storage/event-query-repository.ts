import type { Attributes, Span } from '@opentelemetry/api';
import type { AggregateCount, AggregateGrouping, AggregateSelection, EventReader, EventSelection, Page, PageWindow, StoredEvent } from '../domain/query/event-reader';
import type { StatementBudget } from '../domain/statement-budget';
import { withSpan } from '../observability/with-span';
import { aggregateQuery, countQuery, pageQuery } from './event-query-sql';
import { rollupAggregateQuery, rollupsCanAnswer } from './event-rollups-sql';
import { type ConnectionSource, withSingleStatement, withTransaction } from './database-session';

/** Receives the duration of each database operation, for the db query duration metric. */
export type ObserveDuration = (operation: 'read_page' | 'aggregate', seconds: number) => void;

/** A row of pageQuery or keysQuery. */
export interface EventRow {
  event_id: string;
  timestamp_us: string;
  event_type: string;
  service_name: string;
  /** null when the payload is larger than the reader serves (payload_bytes says how large). */
  payload_text: string | null;
  payload_bytes: number;
  received_at_us: string;
  /** Only with a window's maxBytes: true on the row after the bytes ran out (not an event of the page). */
  beyond?: boolean;
}

interface AggregateRowData {
  event_type?: string;
  service_name?: string;
  bucket_start_us?: string;
  matched: number;
}

/**
 * The planner cannot estimate how many groups a time bucket makes (it takes
 * the timestamp's distinct count, about one per row) and so sorts every
 * matching row to group them. The groups are bounded (QUERY_AGGREGATE_MAX_ROWS),
 * so hashing them is right: the statement has no ORDER BY (the few result
 * rows are ordered here) and sorting is off, incremental sorting too (else
 * PostgreSQL 18 walks the whole tenant through the service index to get
 * half of the order for free: 4 s on 1M events), so the groups are always
 * hashed. JIT compilation costs more than it saves on these one-pass scans.
 * docs/performance.md has the measurements.
 */
export const AGGREGATE_PLANNER = { enable_sort: 'off', enable_incremental_sort: 'off', jit: 'off' } as const;

/**
 * Where Aggregate counts: 'auto' (the server) takes the per-minute rollups
 * whenever they answer exactly (rollupsCanAnswer) and scans the events
 * otherwise; tests and the bench force one path to compare them.
 */
export type AggregatePath = 'auto' | 'rollups' | 'scan';

/** Reads events for QueryService, from the pool it is given (the read replica's when there is one). */
export class EventQueryRepository implements EventReader {
  /**
   * `statementTimeoutMs` is QUERY_STATEMENT_TIMEOUT: single-statement reads
   * under it keep it on their connection's session (see withSingleStatement).
   * `maxPayloadBytes`: larger stored payloads are not fetched at all (see
   * pageQuery); their events come back with `unservablePayloadBytes`.
   */
  constructor(
    private readonly pool: ConnectionSource,
    private readonly statementTimeoutMs: number,
    private readonly maxPayloadBytes: number,
    private readonly observe: ObserveDuration = () => undefined,
    private readonly aggregatePath: AggregatePath = 'auto',
  ) {}

  readPage(selection: EventSelection, window: PageWindow, budget: StatementBudget): Promise<Page> {
    const attributes = { 'vault.query.limit': window.limit, 'vault.query.offset': window.offset ?? 0, 'vault.query.keyset': window.after !== undefined };
    return this.timed('read_page', 'query.read_page', attributes, (span) =>
      window.countTotal
        ? // The page and its total come from one snapshot, so that they agree.
          withTransaction(this.pool, budget, 'read only repeatable read', async (client): Promise<Page> => {
            const rows = await client.query<EventRow>(pageQuery(selection, window, this.maxPayloadBytes));
            const total = await client.query<{ total: number }>(countQuery(selection));
            span.setAttribute('vault.query.rows', rows.rowCount ?? 0);
            return { ...toPage(rows.rows, window.payloadAsJson), totalCount: total.rows[0]?.total };
          })
        : withSingleStatement(this.pool, budget, this.statementTimeoutMs, async (client): Promise<Page> => {
            const rows = await client.query<EventRow>(pageQuery(selection, window, this.maxPayloadBytes));
            span.setAttribute('vault.query.rows', rows.rowCount ?? 0);
            return { ...toPage(rows.rows, window.payloadAsJson), totalCount: undefined };
          }),
    );
  }

  aggregate(selection: AggregateSelection, grouping: AggregateGrouping, limit: number, budget: StatementBudget): Promise<AggregateCount[]> {
    const path = this.aggregatePath !== 'auto' ? this.aggregatePath : rollupsCanAnswer(selection, grouping) ? 'rollups' : 'scan';
    const query = path === 'rollups' ? rollupAggregateQuery(selection, grouping, limit) : aggregateQuery(selection, grouping, limit);
    return this.timed('aggregate', 'query.aggregate', { 'vault.query.row_limit': limit, 'vault.query.aggregate_path': path }, (span) =>
      withTransaction(this.pool, budget, 'read only', async (client) => {
        const result = await client.query<AggregateRowData>(query);
        span.setAttribute('vault.query.rows', result.rowCount ?? 0);
        const counts = result.rows.map((row) => ({
          eventType: row.event_type,
          serviceName: row.service_name,
          bucketStartUs: row.bucket_start_us === undefined ? undefined : BigInt(row.bucket_start_us),
          count: row.matched,
        }));
        return counts.sort(byBucketTypeService);
      }, AGGREGATE_PLANNER),
    );
  }

  /** Runs one database operation in its own span, reporting its duration. */
  private async timed<T>(operation: 'read_page' | 'aggregate', spanName: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    try {
      return await withSpan(spanName, attributes, work);
    } finally {
      this.observe(operation, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }
}

/** pageQuery's rows as a page's events: the row after a window's maxBytes ran out only says that more follow. */
export function toPage(rows: readonly EventRow[], payloadAsJson: boolean): Pick<Page, 'events' | 'truncated'> {
  const truncated = rows.at(-1)?.beyond === true;
  const events = (truncated ? rows.slice(0, -1) : rows).map((row) => toStoredEvent(row, payloadAsJson));
  return { events, truncated };
}

/** A row of pageQuery or keysQuery as a StoredEvent. */
export function toStoredEvent(row: EventRow, payloadAsJson: boolean): StoredEvent {
  const text = row.payload_text;
  return {
    eventId: row.event_id,
    timestampUs: BigInt(row.timestamp_us),
    eventType: row.event_type,
    serviceName: row.service_name,
    payload: text === null || payloadAsJson ? undefined : (JSON.parse(text) as Record<string, unknown>),
    payloadJson: text === null || !payloadAsJson ? undefined : text,
    unservablePayloadBytes: text === null ? row.payload_bytes : undefined,
    receivedAtUs: BigInt(row.received_at_us),
  };
}

/** Aggregate rows in the order of the response: bucket, then event type, then service name (byte order, as the "C" collation). */
function byBucketTypeService(a: AggregateCount, b: AggregateCount): number {
  if (a.bucketStartUs !== b.bucketStartUs) return (a.bucketStartUs ?? 0n) < (b.bucketStartUs ?? 0n) ? -1 : 1;
  return compareBytes(a.eventType, b.eventType) || compareBytes(a.serviceName, b.serviceName);
}

/**
 * UTF-8 byte order, which is code point order (JavaScript's < compares UTF-16
 * units, which differs past U+FFFF), without encoding either string: at the
 * first unit that differs, surrogates (U+D800-DFFF, the halves of code
 * points above U+FFFF) rank above U+E000-FFFF and everything else keeps its
 * place. Sorting the 8 640 groups of a whole-tenant Aggregate made ~110 000
 * comparisons: two Buffers each cost ~50 ms of CPU, this ~5 ms.
 */
export function compareBytes(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  const left = a ?? '';
  const right = b ?? '';
  const length = Math.min(left.length, right.length);
  for (let i = 0; i < length; i++) {
    const x = left.charCodeAt(i);
    const y = right.charCodeAt(i);
    if (x !== y) return codePointRank(x) < codePointRank(y) ? -1 : 1;
  }
  return left.length - right.length;
}

/** A UTF-16 unit's place in code point order: surrogates moved above U+FFFF, U+E000-FFFF moved down to close the gap. */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2800 : unit - 0x800;
}
