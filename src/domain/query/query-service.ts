import type { QuerySettings } from '../../config/load-config';
import type { AuthenticatedContext } from '../call-context';
import { RetentionPolicy } from '../retention/retention-policy';
import { invalidArgument, VaultError } from '../vault-error';
import type { CursorCodec } from './cursor-codec';
import type { EventFilterInput, SortOrder } from './event-filter';
import type { AggregateCount, EventReader, EventSelection, StoredEvent } from './event-reader';
import { fittingCount, pageReadBytes, type ResponseSizing } from './fit-response';
import { NOTHING_HELD, positionOf, streamPages, type HeldBytes, type ReadChunk } from './stream-pages';
import { queryScope } from './query-scope';
import { statementBudget } from '../statement-budget';
import { durationToMicros, type TimePoint } from './time-point';
import { validateEventFilter, type FilterLimits } from './validate-event-filter';

/** QueryService's limits (the QUERY_* settings it uses). */
export type QueryLimits = FilterLimits & Pick<QuerySettings, 'statementTimeoutMs' | 'defaultLimit' | 'maxLimit' | 'maxPage' | 'streamChunkSize' | 'aggregateMaxRows'>;

export type { ResponseSizing } from './fit-response';

/** Room kept in a page for its other fields (next_cursor, has_more, total_count). */
const PAGE_FIELDS_RESERVE = 1024;

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
    private readonly retention: RetentionPolicy = new RetentionPolicy(undefined, now),
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
      { after, offset, limit: limit + 1, payloadAsJson: input.payloadAsJson, countTotal: offset !== undefined, maxBytes: pageReadBytes(this.responses, input.payloadAsJson) },
      statementBudget(ctx, this.limits.statementTimeoutMs, this.now()),
    );
    // A page ends early, before the event that would take it past GRPC_MAX_RESPONSE_BYTES.
    const count = this.fitting(page.events.slice(0, limit), this.responses.maxBytes - PAGE_FIELDS_RESERVE);
    const hasMore = page.events.length > count || page.truncated === true;
    const events = page.events.slice(0, count);
    const last = events.at(-1);
    return {
      events,
      hasMore,
      nextCursor: hasMore && last ? this.cursors.encode(selection.tenantId, scope, positionOf(last)) : '',
      totalCount: page.totalCount,
    };
  }

  private fitting(events: readonly StoredEvent[], budget: number): number {
    return fittingCount(events, budget, this.responses);
  }

  /**
   * Sends every match, in order, in reads of about one message each (at most
   * `streamChunkSize` events; see streamPages). Each read is a keyset read of
   * its own that holds a connection only while it runs. The next read runs
   * while the current one is being sent, and no further: memory stays at
   * about two messages whatever the result size (held against
   * GRPC_RESPONSE_BUDGET through `held`), and a client that goes away holds
   * no connection.
   */
  async streamEvents(input: StreamEventsInput, ctx: AuthenticatedContext, send: (events: StoredEvent[]) => Promise<void>, held: HeldBytes = NOTHING_HELD): Promise<void> {
    const selection = this.selection(input.filter, input.order, ctx);
    if (!Number.isSafeInteger(input.maxEvents) || input.maxEvents < 0) throw invalidArgument('max_events', `must be between 0 (no limit) and ${Number.MAX_SAFE_INTEGER}`);
    const read: ReadChunk = async (after, want) => {
      const page = await this.reader.readPage(
        selection,
        { after, limit: want, payloadAsJson: input.payloadAsJson, countTotal: false, maxBytes: pageReadBytes(this.responses, input.payloadAsJson) },
        statementBudget(ctx, this.limits.statementTimeoutMs, this.now()),
      );
      this.observer.rowsRead(page.events.length);
      return page;
    };
    await streamPages(read, this.limits.streamChunkSize, input.maxEvents, this.responses, send, {
      sending: () => this.observer.waitingForClient(1),
      sent: () => this.observer.waitingForClient(-1),
    }, held);
  }

  async aggregate(input: AggregateInput, ctx: AuthenticatedContext): Promise<AggregateCount[]> {
    const { tenantId, filter, retentionCutoffUs } = this.selection(input.filter, 'newest-first', ctx);
    let bucketUs: bigint | undefined;
    if (input.bucket !== undefined) {
      bucketUs = durationToMicros(input.bucket, 'bucket');
      if (bucketUs < MICROS_PER_SECOND) throw invalidArgument('bucket', 'must be at least 1s');
    }
    const grouping = { byEventType: input.groupBy.includes('event-type'), byServiceName: input.groupBy.includes('service-name'), bucketUs };
    const max = this.limits.aggregateMaxRows;
    const rows = await this.reader.aggregate({ tenantId, filter, retentionCutoffUs, notBeforeUs: retentionCutoffUs }, grouping, max + 1, statementBudget(ctx, this.limits.statementTimeoutMs, this.now()));
    if (rows.length > max) {
      const description = `the result has more than ${max} rows (QUERY_AGGREGATE_MAX_ROWS): narrow the filter, widen the bucket or group by fewer fields`;
      const fields = [...(input.groupBy.length > 0 ? ['group_by'] : []), ...(bucketUs !== undefined ? ['bucket'] : []), 'filter'];
      throw new VaultError('INVALID_ARGUMENT', description, { fieldViolations: fields.map((field) => ({ field, description })) });
    }
    return rows;
  }

  private selection(filter: EventFilterInput | undefined, order: SortOrder, ctx: AuthenticatedContext): EventSelection {
    return { tenantId: ctx.tenant.id, filter: validateEventFilter(filter, this.limits), order, retentionCutoffUs: this.retention.cutoffUs(ctx.tenant, this.now()) };
  }

  private pageSize(limit: number): number {
    if (limit === 0) return this.limits.defaultLimit;
    if (!Number.isInteger(limit) || limit < 1 || limit > this.limits.maxLimit) {
      throw invalidArgument('limit', `must be between 1 and ${this.limits.maxLimit} (0 = the default, ${this.limits.defaultLimit})`);
    }
    return limit;
  }
}
