import type pg from 'pg';
import type { AggregateCount, AggregateGrouping, EventReader, EventSelection, Page, PageWindow, QueryBudget, StoredEvent } from '../domain/query/event-reader';
import { aggregateQuery, countQuery, pageQuery } from './event-query-sql';
import { withReadTransaction } from './read-transaction';

interface EventRow {
  event_id: string;
  timestamp_us: string;
  event_type: string;
  service_name: string;
  payload?: Record<string, unknown>;
  payload_json?: string;
  received_at_us: string;
}

interface AggregateRowData {
  event_type?: string;
  service_name?: string;
  bucket_start_us?: string;
  matched: number;
}

/** Reads events for QueryService, from the pool it is given (the read replica's when there is one). */
export class EventQueryRepository implements EventReader {
  constructor(private readonly pool: pg.Pool) {}

  readPage(selection: EventSelection, window: PageWindow, budget: QueryBudget): Promise<Page> {
    // The page and its total come from one snapshot, so that they agree.
    return withReadTransaction(this.pool, budget, window.countTotal ? 'repeatable read' : 'read committed', async (client) => {
      const rows = await client.query<EventRow>(pageQuery(selection, window));
      const total = window.countTotal ? await client.query<{ total: number }>(countQuery(selection)) : undefined;
      return { events: rows.rows.map(toStoredEvent), totalCount: total?.rows[0]?.total };
    });
  }

  aggregate(selection: Omit<EventSelection, 'order'>, grouping: AggregateGrouping, limit: number, budget: QueryBudget): Promise<AggregateCount[]> {
    return withReadTransaction(this.pool, budget, 'read committed', async (client) => {
      const result = await client.query<AggregateRowData>(aggregateQuery(selection, grouping, limit));
      return result.rows.map((row) => ({
        eventType: row.event_type,
        serviceName: row.service_name,
        bucketStartUs: row.bucket_start_us === undefined ? undefined : BigInt(row.bucket_start_us),
        count: row.matched,
      }));
    });
  }
}

function toStoredEvent(row: EventRow): StoredEvent {
  return {
    eventId: row.event_id,
    timestampUs: BigInt(row.timestamp_us),
    eventType: row.event_type,
    serviceName: row.service_name,
    payload: row.payload,
    payloadJson: row.payload_json,
    receivedAtUs: BigInt(row.received_at_us),
  };
}
