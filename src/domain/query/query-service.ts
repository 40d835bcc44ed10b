import type { QuerySettings } from '../../config/load-config';
import type { AuthenticatedContext } from '../call-context';
import { invalidArgument, VaultError } from '../vault-error';
import type { CursorCodec } from './cursor-codec';
import type { EventFilterInput, SortOrder } from './event-filter';
import type { AggregateCount, EventReader, EventSelection, KeysetPosition, StoredEvent } from './event-reader';
import { queryScope } from './query-scope';
import { statementBudget } from '../statement-budget';
import { durationToMicros, type TimePoint } from './time-point';
import { validateEventFilter, type FilterLimits } from './validate-event-filter';

/** QueryService's limits (the QUERY_* settings it uses). */
export type QueryLimits = FilterLimits & Pick<QuerySettings, 'statementTimeoutMs' | 'defaultLimit' | 'maxLimit' | 'maxPage' | 'streamChunkSize' | 'aggregateMaxRows'>;

/**
 * How large responses may be, and how large an event is in one (the
 * transport's encoding; the domain only adds sizes up).
 */
export interface ResponseSizing {
  /** GRPC_MAX_RESPONSE_BYTES: no page or chunk message is larger. */
  readonly maxBytes: number;
  /** The bytes `event` takes inside a page or chunk message, its field tag and length included. */
  eventBytes(event: StoredEvent): number;
}

/** Room kept in a page for its other fields (next_cursor, has_more, total_count). */
const PAGE_FIELDS_RESERVE = 1024;
/** A chunk has no other field; a little room all the same. */
const STREAM_FIELDS_RESERVE = 16;

/** Hooks for metrics on streams (the domain does not know the metrics library). */
export interface StreamObserver {
  /** Events read from the database for a stream. */
  rowsRead(count: number): void;
  /** +1 when a stream starts waiting for its client to take more, -1 when it stops waiting. */
  waitingForClient(delta: 1 | -1): void;
}

export interface QueryEventsInput {
  readonly filter: EventFilterInput | undefined;
  /** 0 = the default page size. */
  readonly limit: number;
  /** '' = none. */
  readonly cursor: string;
  /** 0 = cursor mode; 1.. = offset pagination. */
  readonly page: number;
  readonly order: SortOrder;
  readonly payloadAsJson: boolean;
}

export interface QueryEventsResult {
  readonly events: StoredEvent[];
  /** '' when there is no more. */
  readonly nextCursor: string;
  readonly hasMore: boolean;
  /** Set in page mode. */
  readonly totalCount: number | undefined;
}

export interface StreamEventsInput {
  readonly filter: EventFilterInput | undefined;
  readonly order: SortOrder;
  /** 0 = no limit. */
  readonly maxEvents: number;
  readonly payloadAsJson: boolean;
}

export type AggregateDimension = 'event-type' | 'service-name';

export interface AggregateInput {
  readonly filter: EventFilterInput | undefined;
  readonly groupBy: readonly AggregateDimension[];
  readonly bucket: TimePoint | undefined;
}

const MICROS_PER_SECOND = 1_000_000n;

/**
 * Reads a tenant's events back: pages (keyset cursor or offset), streams and
 * counts. Every read is bound to the caller's tenant and runs under a
 * statement timeout (statementBudget).
 */
export class QueryService {
  constructor(
    private readonly reader: EventReader,
    private readonly cursors: CursorCodec,
    private readonly limits: QueryLimits,
    private readonly responses: ResponseSizing,
    private readonly observer: StreamObserver = { rowsRead: () => undefined, waitingForClient: () => undefined },
    private readonly now: () => number = Date.now,
  ) {}

  async queryEvents(input: QueryEventsInput, ctx: AuthenticatedContext): Promise<QueryEventsResult> {
    const selection = this.selection(input.filter, input.order, ctx);
    const limit = this.pageSize(input.limit);
    if (input.page < 0) throw invalidArgument('page', 'must be 0 (cursor pagination) or a page number from 1');
    if (input.page > 0 && input.cursor !== '') {
      const description = 'cursor and page cannot be combined: use either cursor pagination or page numbers';
      throw new VaultError('INVALID_ARGUMENT', description, {
        fieldViolations: [
          { field: 'cursor', description },
          { field: 'page', description },
        ],
      });
    }
    if (input.page > this.limits.maxPage) {
      throw invalidArgument(
        'page',
        `must be at most ${this.limits.maxPage} (QUERY_MAX_PAGE): offset pages get slower with depth; to read further, use cursor pagination (leave page unset and pass each response's next_cursor as cursor)`,
      );
    }
    const scope = queryScope(selection.filter, selection.order);
    const after = input.cursor === '' ? undefined : this.cursors.decode(input.cursor, selection.tenantId, scope);
    const offset = input.page > 0 ? (input.page - 1) * limit : undefined;
    // One more than asked for: whether it comes back says whether there is more, at no extra cost.
    const page = await this.reader.readPage(
      selection,
      { after, offset, limit: limit + 1, payloadAsJson: input.payloadAsJson, countTotal: offset !== undefined },
      statementBudget(ctx, this.limits.statementTimeoutMs, this.now()),
    );
    // A page ends early, before the event that would take it past GRPC_MAX_RESPONSE_BYTES.
    const count = this.fitting(page.events.slice(0, limit), this.responses.maxBytes - PAGE_FIELDS_RESERVE);
    const hasMore = page.events.length > count;
    const events = page.events.slice(0, count);
    const last = events.at(-1);
    return {
      events,
      hasMore,
      nextCursor: hasMore && last ? this.cursors.encode(selection.tenantId, scope, positionOf(last)) : '',
      totalCount: page.totalCount,
    };
  }

  /**
   * How many of `events`, from the first, fit in `budget` bytes. The first
   * always fits or fails the call: an event that no response can carry (its
   * payload stored before the stored form was bounded) is FAILED_PRECONDITION,
   * for this call only.
   */
  private fitting(events: readonly StoredEvent[], budget: number): number {
    let used = 0;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const bytes = event.unservablePayloadBytes === undefined ? this.responses.eventBytes(event) : Number.POSITIVE_INFINITY;
      if (used + bytes <= budget) {
        used += bytes;
        continue;
      }
      if (i === 0) throw unservable(event, this.responses.maxBytes);
      return i;
    }
    return events.length;
  }

  /**
   * Sends every match, in order, `streamChunkSize` events at a time. Each
   * chunk is a keyset read of its own that holds a connection only while it
   * runs. The next chunk is read while the current one is being sent (so the
   * database and the network work at the same time), and no further: memory
   * stays at about two chunks whatever the result size, and a client that
   * goes away holds no connection.
   */
  async streamEvents(input: StreamEventsInput, ctx: AuthenticatedContext, send: (events: StoredEvent[]) => Promise<void>): Promise<void> {
    const selection = this.selection(input.filter, input.order, ctx);
    if (!Number.isSafeInteger(input.maxEvents) || input.maxEvents < 0) throw invalidArgument('max_events', `must be between 0 (no limit) and ${Number.MAX_SAFE_INTEGER}`);
    const read = async (after: KeysetPosition | undefined, want: number): Promise<StoredEvent[]> => {
      const { events } = await this.reader.readPage(
        selection,
        { after, limit: want, payloadAsJson: input.payloadAsJson, countTotal: false },
        statementBudget(ctx, this.limits.statementTimeoutMs, this.now()),
      );
      this.observer.rowsRead(events.length);
      return events;
    };
    const chunkAfter = (sent: number): number => (input.maxEvents > 0 ? Math.min(this.limits.streamChunkSize, input.maxEvents - sent) : this.limits.streamChunkSize);
    let sent = 0;
    let want = chunkAfter(0);
    if (want === 0) return;
    let next: Promise<StoredEvent[]> | undefined = read(undefined, want);
    while (next !== undefined) {
      const events = await next;
      next = undefined;
      if (events.length === 0) return;
      sent += events.length;
      const nextWant = chunkAfter(sent);
      if (events.length === want && nextWant > 0) next = read(positionOf(events.at(-1)!), nextWant);
      want = nextWant;
      this.observer.waitingForClient(1);
      try {
        // Chunks are cut by bytes too: each message stays within GRPC_MAX_RESPONSE_BYTES.
        for (let rest = events; rest.length > 0; ) {
          const count = this.fitting(rest, this.responses.maxBytes - STREAM_FIELDS_RESERVE);
          await send(rest.slice(0, count));
          rest = rest.slice(count);
        }
      } catch (error) {
        // The read ahead fails too once the call is gone; it is awaited so that nothing outlives the call.
        await next?.catch(() => undefined);
        throw error;
      } finally {
        this.observer.waitingForClient(-1);
      }
    }
  }

  async aggregate(input: AggregateInput, ctx: AuthenticatedContext): Promise<AggregateCount[]> {
    const { tenantId, filter } = this.selection(input.filter, 'newest-first', ctx);
    let bucketUs: bigint | undefined;
    if (input.bucket !== undefined) {
      bucketUs = durationToMicros(input.bucket, 'bucket');
      if (bucketUs < MICROS_PER_SECOND) throw invalidArgument('bucket', 'must be at least 1s');
    }
    const grouping = { byEventType: input.groupBy.includes('event-type'), byServiceName: input.groupBy.includes('service-name'), bucketUs };
    const max = this.limits.aggregateMaxRows;
    const rows = await this.reader.aggregate({ tenantId, filter, notBeforeUs: this.retentionCutoffUs(ctx) }, grouping, max + 1, statementBudget(ctx, this.limits.statementTimeoutMs, this.now()));
    if (rows.length > max) {
      const description = `the result has more than ${max} rows (QUERY_AGGREGATE_MAX_ROWS): narrow the filter, widen the bucket or group by fewer fields`;
      const fields = [...(input.groupBy.length > 0 ? ['group_by'] : []), ...(bucketUs !== undefined ? ['bucket'] : []), 'filter'];
      throw new VaultError('INVALID_ARGUMENT', description, { fieldViolations: fields.map((field) => ({ field, description })) });
    }
    return rows;
  }

  /**
   * The seam for retention (issue 16): the caller's tenant's retention
   * cutoff in microseconds since the epoch (events before it are never
   * counted), undefined = keep forever. Both Aggregate paths, the rollups and
   * the scan, apply it; a cutoff inside a minute is exact on both (the
   * rollups count that minute from the events).
   */
  private retentionCutoffUs(_ctx: AuthenticatedContext): bigint | undefined {
    return undefined;
  }

  private selection(filter: EventFilterInput | undefined, order: SortOrder, ctx: AuthenticatedContext): EventSelection {
    return { tenantId: ctx.tenant.id, filter: validateEventFilter(filter, this.limits), order };
  }

  private pageSize(limit: number): number {
    if (limit === 0) return this.limits.defaultLimit;
    if (!Number.isInteger(limit) || limit < 1 || limit > this.limits.maxLimit) {
      throw invalidArgument('limit', `must be between 1 and ${this.limits.maxLimit} (0 = the default, ${this.limits.defaultLimit})`);
    }
    return limit;
  }
}

function unservable(event: StoredEvent, maxBytes: number): VaultError {
  const size = event.unservablePayloadBytes !== undefined ? `its payload alone is ${event.unservablePayloadBytes} bytes as stored` : 'it is';
  return new VaultError(
    'FAILED_PRECONDITION',
    `the stored event "${event.eventId}" (timestamp ${microsToIso(event.timestampUs)}) cannot be sent: ${size} larger than a response may be (GRPC_MAX_RESPONSE_BYTES, ${maxBytes} bytes). ` +
      'It was stored before INGEST_MAX_PAYLOAD_BYTES bounded payloads as stored. Exclude it with the filter (a time range that skips it), or ask an operator to delete it; other reads are not affected',
    { reason: 'STORED_EVENT_UNSERVABLE' },
  );
}

function microsToIso(micros: bigint): string {
  return new Date(Number(micros / 1000n)).toISOString();
}

function positionOf(event: StoredEvent): KeysetPosition {
  return { timestampUs: event.timestampUs, eventId: event.eventId };
}
